"""Exceptions with Azure ML's names (azureml.exceptions), so `except ComputeTargetException:` in a
ported notebook catches what trainyard raises. Every message is one line that says what to fix."""

from __future__ import annotations


class TrainyardException(Exception):
    """Base of the client's errors (Azure ML: AzureMLException)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# Azure ML's name for the base class, for `except AzureMLException:`.
AzureMLException = TrainyardException


class UserErrorException(TrainyardException):
    """Bad input from the caller: a missing config file, a script outside source_directory, ..."""


class ComputeTargetException(TrainyardException):
    """A compute target is absent, cannot be created, or did not become ready."""


class WebserviceException(TrainyardException):
    """A deployment cannot be made, did not become ready, or its endpoint failed."""


class ModelNotFoundException(UserErrorException):
    """No registered model of that name (or version)."""


class ActivityFailedException(TrainyardException):
    """`run.wait_for_completion(raise_on_error=True)` on a run that ended Failed or Canceled."""

    def __init__(self, message: str, run=None):
        super().__init__(message)
        self.run = run


RunFailedException = ActivityFailedException
