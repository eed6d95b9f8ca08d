"""Helpers shared by the tests of our plugin: an Orthanc with the gateway, script folders, scans.

    orthanc = gateway_orthanc(ws, servers={"cloud": {...}}, scripts=copy_scripts(ws))
"""
import shutil
from pathlib import Path

from harness import DICOMWEB_PLUGIN, Orthanc, env


def copy_scripts(ws, name="lua"):
    """A private copy of the repository's lua/ folder that a test may edit (hot reload)."""
    target = ws.path / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(env.SOURCE_DIR / "lua", target)
    return target


def gateway_orthanc(ws, servers=None, scripts=None, section=None, config=None, env_vars=None,
                    name="orthanc-a", dicomweb=None, **kwargs):
    """Orthanc with the DICOMweb plugin and ours, and a DicomWebOAuth section built from `servers`
    (name -> server object) plus `section` (extra global keys). `scripts` defaults to the
    repository's lua/ folder."""
    oauth = {"Servers": servers or {},
             "ScriptDirectories": [str(scripts or env.SOURCE_DIR / "lua")]}
    oauth.update(section or {})
    cfg = {"DicomWebOAuth": oauth}
    cfg.update(config or {})
    return Orthanc(ws, plugins=[DICOMWEB_PLUGIN, env.plugin_path()], config=cfg, env=env_vars,
                   name=name, dicomweb=dicomweb, **kwargs)


def assert_no_secret(test, secrets, *texts):
    """Fails if any secret appears in any of the texts (logs, bodies, status pages)."""
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for secret in secrets:
            if secret and secret in text:
                test.fail(f"secret value {secret[:3]}... leaked into output:\n"
                          f"{text[max(0, text.find(secret) - 200):text.find(secret) + 50]}")
