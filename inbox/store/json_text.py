"""A JSON column's text, as every writer of the store makes it (`db`'s engines, `bulk`'s records)."""

from __future__ import annotations

import json

import orjson

__all__ = ["dump_json"]


def dump_json(value: object) -> str:
    """A JSON column's text, by orjson: the stdlib's encoder was 5 % of an ingest batch (every
    event's detail, every outbox row's context). What orjson refuses (an integer past 64 bits,
    a lone surrogate from a broken mail) goes through the stdlib encoder, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)
