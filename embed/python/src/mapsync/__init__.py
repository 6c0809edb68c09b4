"""mapsync on Python: the mapsync component (mapsync:integration@0.9.0) on
wasmtime-py, syncing an ISP's fibre network from OZmap into a store of yours."""

from ._runtime import VERSION, Mapsync, MapsyncError, origin_of, stored_form
from .memory_store import KINDS, MemoryStore, StoreError

__all__ = ["KINDS", "Mapsync", "MapsyncError", "MemoryStore", "StoreError", "VERSION", "origin_of", "stored_form"]
