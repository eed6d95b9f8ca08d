"""Errors raised by the harness itself (not by the code under test).

Every message starts with a stable HAR-xxx code so a failing run points at the harness step that
broke: HAR-0xx environment, HAR-1xx processes, HAR-2xx Orthanc, HAR-3xx IdP, HAR-4xx nginx,
HAR-5xx Redis, HAR-6xx DICOM, HAR-7xx PKI.
"""


class HarnessError(Exception):
    """A harness step failed; `code` is the HAR-xxx code, str() is 'code: message'."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
