"""A small tmpfs that a test can fill up, to make a server's writes really fail (ENOSPC) and work again.

    disk = SmallTmpfs(ws, "audit-disk", size_kib=256)
    disk.start()                 # the test process moves to a private mount namespace, then mounts
    path = disk.path / "audit.jsonl"
    ...                          # start a server (after start(): it inherits the mount namespace)
    disk.fill()                  # a filler file takes every free block: writes fail with ENOSPC
    disk.free()                  # the filler is gone: writes work again
    disk.stop()                  # copies the files to `disk.copy_dir`, unmounts

No device node, no change to any system path: the first start() calls unshare(CLONE_NEWNS) and makes
every mount of the new namespace private (as `unshare -m` does), so the tmpfs is never visible
outside this test process and the servers it starts afterwards, and it disappears with them even if
the test is killed. unshare(CLONE_NEWNS) needs a single-threaded process: create the tmpfs before any
thread (InProcessServer...) starts. Root, or the user namespace of `unshare -r -n` (ctest as non-root),
has the rights it needs.
"""
import ctypes
import errno
import os
import shutil
import threading

from .errors import HarnessError

_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)
_private = False


def _check(result, code, what):
    if result != 0:
        err = ctypes.get_errno()
        raise HarnessError(code, f"{what}: {os.strerror(err)}")


def private_mount_namespace():
    """Moves this process to a mount namespace of its own, every mount private (once per process)."""
    global _private
    if _private:
        return
    if threading.active_count() != 1:
        raise HarnessError("HAR-801", "unshare(CLONE_NEWNS) needs a single-threaded test process: "
                                      "create the tmpfs before starting any thread")
    _check(_libc.unshare(_CLONE_NEWNS), "HAR-802", "unshare(CLONE_NEWNS)")
    # Without this, mounts made here would propagate to the namespace we came from (shared mounts).
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "HAR-803",
           "making every mount private in the new namespace")
    _private = True


def mounted_in(pid, path):
    """Whether `path` is a mount point in the mount namespace of process `pid` ("self" for this one).
    An unreadable mountinfo raises OSError rather than answering "no"."""
    target = os.path.realpath(path)
    with open(f"/proc/{pid}/mountinfo") as f:
        return any(len(fields) > 4 and fields[4] == target for fields in (line.split() for line in f))


class SmallTmpfs:
    """A tmpfs of `size_kib` KiB mounted on a fresh workspace directory. Not thread-safe."""

    def __init__(self, ws, name, size_kib=256):
        self.ws = ws
        self.path = ws.dir(name)
        self.copy_dir = self.path.parent / f"{self.path.name}-copy"  # the files, kept after stop()
        self.size_kib = size_kib
        self.filler = self.path / "filler.bin"
        self.mounted = False

    def start(self):
        private_mount_namespace()
        options = f"size={self.size_kib}k,mode=0700".encode()
        _check(_libc.mount(b"tmpfs", str(self.path).encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                           options), "HAR-804", f"mounting a tmpfs on {self.path}")
        self.mounted = True
        return self

    def fill(self):
        """Writes a filler file until the tmpfs is full (ENOSPC); returns its size in bytes. Other
        files keep the free bytes of their last block: their next writes still fit up to that."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            block = b"\0" * 4096
            for _ in range(self.size_kib // 4 + 2):  # bounded: one more block than could ever fit
                try:
                    n = os.write(fd, block)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        return written
                    raise
                written += n
        finally:
            os.close(fd)
        raise HarnessError("HAR-805", f"{self.path} did not run out of space after {written} bytes")

    def free(self):
        """Removes the filler: the space is available again."""
        if self.filler.exists():
            self.filler.unlink()

    def stop(self):
        """Copies the files (except the filler) to `copy_dir` for inspection, then unmounts."""
        if not self.mounted:
            return
        self.free()
        shutil.copytree(self.path, self.copy_dir, dirs_exist_ok=True)
        if _libc.umount2(str(self.path).encode(), 0) != 0:
            # Still busy (a server that would not stop): detach now, gone when its last user exits.
            _check(_libc.umount2(str(self.path).encode(), _MNT_DETACH), "HAR-806", f"unmounting {self.path}")
        self.mounted = False

    def terminate(self):
        """Nothing to begin: stop_together() terminates the servers first, then stops this."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
