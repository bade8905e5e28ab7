"""The Azure Blob store: ``az://container/prefix`` with ETag preconditions (the azure extra)."""

from persidict.storage.azure.requests import AzureBlobError, AzureTimeoutError
from persidict.storage.azure.store import AzureStore

__all__ = ["AzureBlobError", "AzureStore", "AzureTimeoutError"]
