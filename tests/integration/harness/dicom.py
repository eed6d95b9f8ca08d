"""Synthetic DICOM test data: a small Part 10 writer (explicit VR little endian), a reader for top-level
elements, and sha256 helpers for byte-identity checks.

Each file is a Secondary Capture Image (MONOCHROME2, 8 or 16 bits) with controllable Study/Series/SOP
Instance UIDs and patient fields, and pseudo-random pixels from a seed (distinct instances have
distinct bytes; the same seed gives the same bytes). Writing is pure Python: about 1000 instances of
64x64 pixels take well under a second, where running dcmodify per file takes minutes. The output is
checked with dcmtk's dcmdump/dcmftest and dicom3tools' dciodvfy by test_harness_dicom.py.

    study = make_study(10, rows=256, columns=256, patient_id="P1")
    upstream.stow(study.instances, token)
    assert sha256(retrieved) == study.sha256_by_sop[sop_instance_uid(retrieved)]
"""
import hashlib
import random
import struct
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional

from .errors import HarnessError

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1189.1"   # fixed; identifies this generator
IMPLEMENTATION_VERSION = "GW_TEST_GEN_1"

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def new_uid():
    """A fresh globally unique UID (2.25.<uuid as integer>, at most 64 characters)."""
    return "2.25." + str(uuid.uuid4().int)


def sha256(data):
    """Hex SHA-256 of bytes (or of a file when given a Path)."""
    if isinstance(data, Path):
        h = hashlib.sha256()
        with open(data, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    return hashlib.sha256(data).hexdigest()


@dataclass
class InstanceSpec:
    """Everything that varies between generated instances."""
    study_instance_uid: str = field(default_factory=new_uid)
    series_instance_uid: str = field(default_factory=new_uid)
    sop_instance_uid: str = field(default_factory=new_uid)
    patient_id: str = "GW-TEST-1"
    patient_name: str = "Test^Patient"
    patient_birth_date: str = "19700101"
    patient_sex: str = "O"
    study_date: str = "20240101"
    study_time: str = "120000"
    study_id: str = "1"
    accession_number: str = ""
    study_description: str = "gateway test study"
    series_description: str = "gateway test series"
    series_number: int = 1
    instance_number: int = 1
    modality: str = "OT"
    rows: int = 64
    columns: int = 64
    bits_allocated: int = 16           # 8 or 16
    seed: Optional[int] = None         # pixel generator seed; default: derived from the SOP UID


# -- writer -------------------------------------------------------------------------------------

def _pad(value, vr):
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB", b"UN") else b" "
    return value


def _element(group, elem, vr, value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    value = _pad(value, vr)
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    if len(value) > 0xFFFF:
        raise HarnessError("HAR-601", f"value too long for VR {vr.decode()} in ({group:04X},{elem:04X})")
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def _us(v):
    return struct.pack("<H", v)


def pixel_bytes(spec):
    """The pixel data of an instance: rows*columns*(bits/8) pseudo-random bytes from the seed."""
    if spec.bits_allocated not in (8, 16):
        raise HarnessError("HAR-602", "bits_allocated must be 8 or 16")
    n = spec.rows * spec.columns * (spec.bits_allocated // 8)
    seed = spec.seed if spec.seed is not None else int(hashlib.sha256(spec.sop_instance_uid.encode()).hexdigest()[:16], 16)
    return random.Random(seed).randbytes(n)


def make_instance(spec=None, **fields):
    """A complete Part 10 file (bytes) for `spec` (or InstanceSpec(**fields))."""
    spec = replace(spec, **fields) if spec is not None else InstanceSpec(**fields)
    bits = spec.bits_allocated
    pixels = pixel_bytes(spec)

    meta_body = b"".join([
        _element(0x0002, 0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, 0x0002, b"UI", SECONDARY_CAPTURE),
        _element(0x0002, 0x0003, b"UI", spec.sop_instance_uid),
        _element(0x0002, 0x0010, b"UI", EXPLICIT_VR_LITTLE_ENDIAN),
        _element(0x0002, 0x0012, b"UI", IMPLEMENTATION_CLASS_UID),
        _element(0x0002, 0x0013, b"SH", IMPLEMENTATION_VERSION),
    ])
    meta = _element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta_body))) + meta_body

    dataset = b"".join([
        _element(0x0008, 0x0005, b"CS", "ISO_IR 192"),
        _element(0x0008, 0x0016, b"UI", SECONDARY_CAPTURE),
        _element(0x0008, 0x0018, b"UI", spec.sop_instance_uid),
        _element(0x0008, 0x0020, b"DA", spec.study_date),
        _element(0x0008, 0x0023, b"DA", spec.study_date),
        _element(0x0008, 0x0030, b"TM", spec.study_time),
        _element(0x0008, 0x0033, b"TM", spec.study_time),
        _element(0x0008, 0x0050, b"SH", spec.accession_number),
        _element(0x0008, 0x0060, b"CS", spec.modality),
        _element(0x0008, 0x0064, b"CS", "WSD"),
        _element(0x0008, 0x0070, b"LO", "GW test generator"),
        _element(0x0008, 0x0090, b"PN", ""),
        _element(0x0008, 0x1030, b"LO", spec.study_description),
        _element(0x0008, 0x103E, b"LO", spec.series_description),
        _element(0x0010, 0x0010, b"PN", spec.patient_name),
        _element(0x0010, 0x0020, b"LO", spec.patient_id),
        _element(0x0010, 0x0030, b"DA", spec.patient_birth_date),
        _element(0x0010, 0x0040, b"CS", spec.patient_sex),
        _element(0x0018, 0x0015, b"CS", "CHEST"),
        _element(0x0020, 0x000D, b"UI", spec.study_instance_uid),
        _element(0x0020, 0x000E, b"UI", spec.series_instance_uid),
        _element(0x0020, 0x0010, b"SH", spec.study_id),
        _element(0x0020, 0x0011, b"IS", str(spec.series_number)),
        _element(0x0020, 0x0013, b"IS", str(spec.instance_number)),
        _element(0x0020, 0x0020, b"CS", ""),
        _element(0x0028, 0x0002, b"US", _us(1)),
        _element(0x0028, 0x0004, b"CS", "MONOCHROME2"),
        _element(0x0028, 0x0010, b"US", _us(spec.rows)),
        _element(0x0028, 0x0011, b"US", _us(spec.columns)),
        _element(0x0028, 0x0100, b"US", _us(bits)),
        _element(0x0028, 0x0101, b"US", _us(bits)),
        _element(0x0028, 0x0102, b"US", _us(bits - 1)),
        _element(0x0028, 0x0103, b"US", _us(0)),
        _element(0x7FE0, 0x0010, b"OW" if bits == 16 else b"OB", pixels),
    ])
    return b"\0" * 128 + b"DICM" + meta + dataset


@dataclass
class Study:
    """A generated study: the files, their specs, and sha256 per SOP Instance UID."""
    study_instance_uid: str
    series_instance_uids: List[str]
    specs: List[InstanceSpec]
    instances: List[bytes]

    @property
    def sha256_by_sop(self) -> Dict[str, str]:
        return {s.sop_instance_uid: sha256(d) for s, d in zip(self.specs, self.instances)}

    @property
    def total_bytes(self):
        return sum(len(d) for d in self.instances)


def study_specs(count, series_count=1, study_uid=None, seed=0, **fields):
    """InstanceSpecs of one study: `count` instances spread over `series_count` series."""
    if count < 1 or series_count < 1:
        raise HarnessError("HAR-603", "a study needs at least one instance and one series")
    study_uid = study_uid or new_uid()
    series = [new_uid() for _ in range(series_count)]
    specs = []
    for i in range(count):
        s = i % series_count
        specs.append(InstanceSpec(study_instance_uid=study_uid, series_instance_uid=series[s],
                                  series_number=s + 1, instance_number=i // series_count + 1,
                                  seed=seed * 1_000_003 + i, **fields))
    return specs


def make_study(count, series_count=1, study_uid=None, seed=0, **fields):
    """Generate a whole study in memory. fields: any InstanceSpec field (rows, columns, patient_id...)."""
    specs = study_specs(count, series_count, study_uid, seed, **fields)
    series = list(dict.fromkeys(s.series_instance_uid for s in specs))
    return Study(specs[0].study_instance_uid, series, specs, [make_instance(s) for s in specs])


def write_files(directory, instances):
    """Write files as <directory>/<index>.dcm; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(instances):
        p = directory / f"{i:06d}.dcm"
        p.write_bytes(data)
        paths.append(p)
    return paths


def side_for_bytes(target_bytes, bits_allocated=16):
    """Square image side whose pixel data is at least `target_bytes` (choose an instance size)."""
    per_pixel = bits_allocated // 8
    side = 1
    while side * side * per_pixel < target_bytes:
        side *= 2
    lo, hi = side // 2, side
    while lo < hi:
        mid = (lo + hi) // 2
        if mid * mid * per_pixel >= target_bytes:
            hi = mid
        else:
            lo = mid + 1
    return max(1, hi)


# -- reader -------------------------------------------------------------------------------------

def _walk(data, pos, end, explicit):
    """Yield (tag, vr, value_offset, length) of the elements in data[pos:end] (one nesting level)."""
    while pos + 8 <= end:
        group, elem = struct.unpack_from("<HH", data, pos)
        tag = (group << 16) | elem
        if group == 0xFFFE:                      # item / delimiters: no VR
            length = struct.unpack_from("<I", data, pos + 4)[0]
            yield tag, None, pos + 8, length
            pos += 8 + (0 if length == 0xFFFFFFFF or elem != 0xE000 else length)
            continue
        if explicit or group == 0x0002:
            vr = data[pos + 4:pos + 6]
            if vr in _LONG_VRS:
                length = struct.unpack_from("<I", data, pos + 8)[0]
                value = pos + 12
            else:
                length = struct.unpack_from("<H", data, pos + 6)[0]
                value = pos + 8
        else:
            vr = None
            length = struct.unpack_from("<I", data, pos + 4)[0]
            value = pos + 8
        if length == 0xFFFFFFFF:
            value_end = _skip_undefined(data, value, end, explicit)
            yield tag, vr, value, value_end - value
            pos = value_end
        else:
            yield tag, vr, value, length
            pos = value + length


def _skip_undefined(data, pos, end, explicit):
    """Offset just after the sequence delimitation item of an undefined-length value."""
    depth = 0
    for tag, _, value, length in _walk(data, pos, end, explicit):
        if tag == 0xFFFEE0DD and depth == 0:
            return value
        if tag == 0xFFFEE000 and length == 0xFFFFFFFF:
            depth += 1
        elif tag == 0xFFFEE00D:
            depth -= 1
    raise HarnessError("HAR-604", "undefined-length value without sequence delimiter")


def read_elements(data):
    """Top-level elements of a Part 10 file: {(group, element): raw value bytes, padding included}."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise HarnessError("HAR-605", "not a DICOM Part 10 file (no DICM prefix)")
    result = {}
    start = None
    for tag, _, value, length in _walk(data, 132, len(data), True):
        if tag >> 16 != 0x0002:
            break
        result[(0x0002, tag & 0xFFFF)] = data[value:value + length]
        start = value + length
    if start is None:
        raise HarnessError("HAR-606", "DICOM file without file meta information")
    explicit = _text(result, 0x0002, 0x0010) != IMPLICIT_VR_LITTLE_ENDIAN
    for tag, _, value, length in _walk(data, start, len(data), explicit):
        if tag >> 16 != 0xFFFE:
            result[(tag >> 16, tag & 0xFFFF)] = data[value:value + length]
    return result


def _text(elements, group, elem):
    v = elements.get((group, elem))
    return v.rstrip(b"\0 ").decode("utf-8", errors="replace") if v is not None else None


def uids(data):
    """(StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID) of a Part 10 file."""
    e = read_elements(data)
    return _text(e, 0x0020, 0x000D), _text(e, 0x0020, 0x000E), _text(e, 0x0008, 0x0018)


def sop_instance_uid(data):
    return uids(data)[2]
