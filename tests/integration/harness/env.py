"""Where things are: the source tree, the fixtures, Debian's binaries, and what ctest passes in.

ctest sets GW_SOURCE_DIR, GW_PLUGIN, GW_CLI and GW_NODE_MODULES (see tests/integration/tests.cmake);
by hand, only GW_PLUGIN / GW_CLI are needed, and only by tests that use the plugin or the CLI.
"""
import os
import shutil
from pathlib import Path

from .errors import HarnessError

SOURCE_DIR = Path(os.environ.get("GW_SOURCE_DIR") or Path(__file__).resolve().parents[3])
FIXTURES_DIR = SOURCE_DIR / "tests" / "fixtures"
IDP_FIXTURE_DIR = FIXTURES_DIR / "idp"
NGINX_FIXTURE_DIR = FIXTURES_DIR / "nginx"

ORTHANC_BIN = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
NGINX_BIN = "/usr/sbin/nginx"
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
REDIS_BIN = "/usr/bin/redis-server"
OPENSSL_BIN = "/usr/bin/openssl"


def node_bin():
    """The node executable (PATH lookup: CI may install Node outside /usr/bin)."""
    found = shutil.which("node")
    if not found:
        raise HarnessError("HAR-001", "node is not installed (the IdP fixture needs Node.js >= 20.19)")
    return found


def node_modules():
    """Folder holding the IdP fixture's npm packages."""
    return Path(os.environ.get("GW_NODE_MODULES") or IDP_FIXTURE_DIR / "node_modules")


def require_node_modules():
    """Fail with the fix in the message when `npm ci` has not been run for the IdP fixture."""
    modules = node_modules()
    if not (modules / "oidc-provider" / "package.json").is_file():
        raise HarnessError(
            "HAR-002",
            f"the IdP fixture's npm packages are missing ({modules}): "
            f"run `npm ci` in {IDP_FIXTURE_DIR.relative_to(SOURCE_DIR)}")
    return modules


def _built_file(var, target):
    value = os.environ.get(var, "")
    if not value:
        raise HarnessError("HAR-003", f"{var} is not set: run the test through ctest, or export {var}")
    if not Path(value).is_file():
        raise HarnessError("HAR-004", f"{var}={value} does not exist: build the target {target} first")
    return value


def plugin_path():
    """Path of our Orthanc plugin (.so), from GW_PLUGIN; raises if it is not built."""
    return _built_file("GW_PLUGIN", "OrthancOAuthGateway")


def cli_path():
    """Path of the operator CLI, from GW_CLI; raises if it is not built."""
    return _built_file("GW_CLI", "dicomweb-oauth")
