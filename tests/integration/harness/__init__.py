"""Integration test harness: real Orthanc, IdP, nginx-protected DICOMweb, Redis, synthetic DICOM.

Modules: workspace (temp dir, ports, processes), orthanc, idp, upstream (ProtectedDicomWeb), redis,
dicom, pki, jose, http, tmpfs (a small disk to fill up), testing (unittest glue). See docs/testing.md.
"""
from .dicom import InstanceSpec, Study, make_instance, make_study, new_uid, sha256
from .errors import HarnessError
from .http import HttpResponse, basic_auth, bearer, multipart_related, parse_multipart, request
from .idp import IdentityProvider, IdpClient, IdpResource
from .orthanc import DICOMWEB_PLUGIN, Orthanc
from .pki import Pki
from .process import wait_until
from .redis import Redis, RedisError, RespClient
from .upstream import ProtectedDicomWeb
from .workspace import Workspace

__all__ = [
    "DICOMWEB_PLUGIN", "HarnessError", "HttpResponse", "IdentityProvider", "IdpClient", "IdpResource",
    "InstanceSpec", "Orthanc", "Pki", "ProtectedDicomWeb", "Redis", "RedisError", "RespClient", "Study",
    "Workspace", "basic_auth", "bearer", "make_instance", "make_study", "multipart_related", "new_uid",
    "parse_multipart", "request", "sha256", "wait_until",
]
