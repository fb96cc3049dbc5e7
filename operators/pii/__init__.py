"""Personal data: detection and redaction of e-mails, phone numbers, IDs, IP addresses, card numbers.

This `__init__` is the family's public face: code outside `operators/pii/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.pii._detect import KINDS, cn_id_valid, find_pii, luhn_valid

__all__ = ['KINDS', 'cn_id_valid', 'find_pii', 'luhn_valid']
