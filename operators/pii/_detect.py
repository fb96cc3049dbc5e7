"""Detectors for personal data in text: a regex finds candidates, a validator rejects look-alikes.

Why validators: regexes alone replace version numbers, dates, prices and random digit runs.
Cards must pass the Luhn check and carry a real issuer prefix, Chinese resident IDs the
GB 11643-1999 checksum, IPv6 addresses Python's `ipaddress` parser. Boundaries are ASCII-only
so numbers glued to Chinese characters (电话13800138000) are still found.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Callable, Iterator

KINDS = ("url", "email", "cn_id", "credit_card", "ipv6", "ipv4", "phone")  # priority on overlap
DEFAULT_KINDS = ["email", "phone", "ipv4", "ipv6", "credit_card", "cn_id"]


@dataclasses.dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_DOTTED = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
# local@domain, where the domain is a host name, a bare IPv4 address or a bracketed literal
# ([1.2.3.4], [IPv6:...]). The local part may start with an underscore (_______@example.com) and
# may follow a dot (.email@example.com: the address after the dot is found); it ends in no dot.
# No address is followed by another @ (firmware paths such as port@1.endpoint@0).
EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9_%+\-])[A-Za-z0-9_](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?@"
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-@])"
    rf"|(?P<ip>{_IPV4_DOTTED})(?![0-9A-Za-z\-@]|\.\d)"
    rf"|\[(?:(?P<bracket_ip>{_IPV4_DOTTED})|IPv6:[0-9A-Fa-f:.]{{2,45}})\])")
URL_RE = re.compile(r"(?<![A-Za-z0-9])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+",
                    re.IGNORECASE)
_URL_TRAIL = ".,;:!?)]}'\""
CN_ID_RE = re.compile(r"(?<![0-9A-Za-z])[1-8]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
                      r"(?![0-9A-Za-z])")
CARD_RE = re.compile(r"(?<![0-9A-Za-z.,\-])\d(?:[ \-]?\d){12,18}(?![0-9A-Za-z]|[.,]\d)")
IPV4_RE = re.compile(rf"(?<![0-9A-Za-z.]){_IPV4_DOTTED}(?![0-9A-Za-z]|\.\d)")
IPV6_RE = re.compile(r"(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:\.\d{1,3}){0,3}")
PHONE_INTL_RE = re.compile(r"(?<![0-9A-Za-z+])(?:\+[1-9]\d{0,2}|\(\+[1-9]\d{0,2}\))(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}"
                           r"(?![0-9A-Za-z]|[.,]\d)")
PHONE_NANP_RE = re.compile(r"(?<![0-9A-Za-z+.\-])(?:1[ .\-]?)?(?:\([2-9]\d{2}\)[ .\-]?|[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}"
                           r"(?![0-9A-Za-z]|[.\-]\d)")
PHONE_CN_RE = re.compile(r"(?<![0-9A-Za-z+])(?<!\d[.,])(?:(?:\+|00)86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}"
                         r"(?![0-9A-Za-z]|[.,]\d)")
# Bare 11-digit numbers after these words are counters, sizes or timestamps, not mobiles.
_NOT_PHONE_CONTEXT_RE = re.compile(r"(?:time|stamp|runtime|total|size|bytes|count|offset|sector|block|seq|len|length|"
                                   r"jiffies|ns|us|ms)\s*[:=]?\s*$|=\s*$", re.IGNORECASE)
# A dotted quad right after these words is a version or section number, not an address
# (the Debian Handbook's cross-references, in its languages, are the main source).
_NOT_IP_CONTEXT_RE = re.compile(
    r"(?<![A-Za-z\u00c0-\u024f\u0400-\u04ff])(?:version|ver\.?|v|release|rev\.?|section|sec\.?|§|chapter|clause|build|firmware|abschnitt|kapitel|"
    r"secci[oó]n?|se[cç][aã]o|sezione|chapitre|cap[ií]tulo|capitolo|sec[tț]iune[a]?|k[ıi]s[ıi]m|b[öo]l[üu]m|avsnitt|afsnit|"
    r"seksjon|kapittel|hoofdstuk|paragraaf|rozdzia[łl]|oddíl|kohta|osa|bagian|seksi|раздел|секция|розділ|глава|"
    r"節|节|章|第|セクション|절|بخش|قسم|الفصل)\s*$",
    re.IGNORECASE)
# ... or right before a quoted title ('See 11.7.3.2, "Configuring ..."') or a section suffix (12.2.2.2절).
_TITLE_AFTER_RE = re.compile(r",\s*[“\"„«「『]|\s*[절장節节章]")
_CIDR_RE = re.compile(r"/(\d{1,3}(?:\.\d{1,3}){3}|\d{1,3})(?![\d.])")  # /24 or /255.255.255.0

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def cn_id_valid(number: str) -> bool:
    """GB 11643-1999: the 18th character is the ISO 7064 MOD 11-2 check of the first 17 digits."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _CN_ID_WEIGHTS))
    return _CN_ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer_known(digits: str) -> bool:
    """Issuer prefixes (IIN) of Visa, Mastercard, Amex, Discover, JCB, UnionPay, Diners, Maestro."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649 or two == 62:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19
    if two in (50, 56, 57, 58, 63, 67):
        return 12 <= n <= 19
    return False


def _card_grouping(raw: str, sep: str) -> bool:
    """Cards are written in fours (the last group shorter), or 4-6-5 (Amex), 4-6-4 (Diners)."""
    sizes = [len(g) for g in raw.split(sep)]
    if sizes in ([4, 6, 5], [4, 6, 4]):
        return True
    return len(sizes) >= 3 and all(n == 4 for n in sizes[:-1]) and 1 <= sizes[-1] <= 4


# RFC 1918 private IPv4 networks, and their IPv6 counterpart (RFC 4193 unique local addresses).
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


def is_private_address(address: str) -> bool:
    """In a private network (10/8, 172.16/12, 192.168/16, fc00::/7; also IPv4-mapped IPv6): reachable
    only inside one site. datatrove's PII formatter leaves these (and every other non-public
    address) alone by default."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _PRIVATE_NETS)


def _not_a_host(text: str, end: int, address: str) -> bool:
    """Loopback, unspecified, multicast, reserved (netmasks) addresses and CIDR network addresses
    (192.168.0.0/16: host bits zero) name no one's machine."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or (ip.version == 4 and ip.is_reserved):
        return True
    prefix = _CIDR_RE.match(text, end)
    if prefix:
        try:
            ipaddress.ip_network(f"{address}/{prefix.group(1)}", strict=True)
            return True
        except ValueError:
            return False
    return False


Windows = list  # [(start, end)]: where a finder searches (pos/endpos; lookbehinds still see before)


def _scan(pattern: re.Pattern, text: str, windows: Windows) -> Iterator[re.Match]:
    for start, end in windows:
        yield from pattern.finditer(text, start, end)


def _cards(text: str, windows: Windows) -> Iterator[tuple[int, int]]:
    for m in _scan(CARD_RE, text, windows):
        raw = m.group()
        seps = {c for c in raw if not c.isdigit()}
        if len(seps) > 1 or "  " in raw:
            continue  # mixed separators: not one number
        digits = raw.replace(" ", "").replace("-", "")
        if seps and not _card_grouping(raw, seps.pop()):
            continue  # "255 1000 255 0 0 500": numbers in a row, not one card number
        if digits == raw and CN_ID_RE.fullmatch(digits):
            continue  # shaped like a resident ID (region + birth date) that failed its checksum
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and card_issuer_known(digits):
            yield m.start(), m.end()


def _cn_ids(text: str, windows: Windows) -> Iterator[tuple[int, int]]:
    for m in _scan(CN_ID_RE, text, windows):
        if cn_id_valid(m.group()):
            yield m.start(), m.end()


def _ipv4(text: str, windows: Windows, keep_private: bool = False) -> Iterator[tuple[int, int]]:
    for m in _scan(IPV4_RE, text, windows):
        octets = m.group().split(".")
        if all(len(o) == 1 for o in octets):
            continue  # 1.2.3.4: a section or version number far more often than an address
        if _NOT_IP_CONTEXT_RE.search(text, max(0, m.start() - 12), m.start()):
            continue
        if octets[0] == "0" or _TITLE_AFTER_RE.match(text, m.end()) or _not_a_host(text, m.end(), m.group()):
            continue
        if keep_private and is_private_address(m.group()):
            continue
        yield m.start(), m.end()


def _ipv6(text: str, windows: Windows, keep_private: bool = False) -> Iterator[tuple[int, int]]:
    for m in _scan(IPV6_RE, text, windows):
        cand = m.group().rstrip(":.")
        end = m.start() + len(cand)
        if cand.count(":") < 2 or not any(c.isdigit() for c in cand):
            continue  # times have one or two colons and digits only; C++ a::b has no digit
        if end < len(text) and (text[end].isalnum() and text[end].isascii()):
            continue
        groups = [g for g in cand.replace("::", ":").split(":") if g]
        if len(groups) < 3 and max((len(g) for g in groups), default=0) < 3:
            continue  # 1::2 is far more often a slice (a[1::2]) than an address
        if "::" not in cand and all(len(g) == 2 for g in groups):
            continue  # 21:00:00:24:ff:27:8f:ae is a WWN/MAC-style identifier
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        if "." not in cand and _not_a_host(text, end, cand):
            continue
        if keep_private and is_private_address(cand):
            continue
        yield m.start(), end


def _phones(text: str, windows: Windows) -> Iterator[tuple[int, int]]:
    for m in _scan(PHONE_INTL_RE, text, windows):
        raw = m.group()
        n = sum(c.isdigit() for c in raw)
        if raw.count(".") == 1 and not any(c in raw for c in " -("):
            continue  # +35236450.6: a signed decimal
        if 8 <= n <= 15 and _country_code_known(raw):
            yield m.start(), m.end()
    for m in _scan(PHONE_NANP_RE, text, windows):
        raw = m.group()
        if "(" not in raw and raw[-5] == " ":
            continue  # 610 987 1597 or 341-356 1976: numbers in a row, not a phone number
        yield m.start(), m.end()
    for m in _scan(PHONE_CN_RE, text, windows):
        if m.group().isdigit() and _NOT_PHONE_CONTEXT_RE.search(text, max(0, m.start() - 24), m.start()):
            continue  # a bare 11-digit counter/timestamp
        yield m.start(), m.end()


# ITU-T E.164 country calling codes (assigned, 2024), for rejecting "+2147483647" and the like.
_CC_1_2 = {"1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
           "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81",
           "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
_CC_3 = ({"211", "212", "213", "216", "218", "290", "291", "297", "298", "299", "350", "351", "352", "353", "354",
          "355", "356", "357", "358", "359", "420", "421", "423", "800", "808", "850", "852", "853", "855", "856",
          "870", "878", "880", "881", "882", "883", "886", "888", "979"}
         | {str(c) for c in range(220, 270) if c != 259}
         | {str(c) for c in range(370, 390) if c not in (384, 388)}
         | {str(c) for c in range(500, 510)} | {str(c) for c in range(590, 600)}
         | {str(c) for c in range(670, 693) if c != 671} | {str(c) for c in range(960, 969)}
         | {str(c) for c in range(970, 978)} | {str(c) for c in range(992, 999)})


def _country_code_known(raw: str) -> bool:
    digits = "".join(c for c in raw if c.isdigit())
    return digits[:1] in _CC_1_2 or digits[:2] in _CC_1_2 or digits[:3] in _CC_3


def _emails(text: str, windows: Windows) -> Iterator[tuple[int, int]]:
    for m in _scan(EMAIL_RE, text, windows):
        ip = m.group("ip") or m.group("bracket_ip")
        if ip:
            local = text[m.start():text.index("@", m.start())]
            if not any(c.isalpha() for c in local) or _not_a_host(text, m.end(), ip):
                continue  # netconsole=4444@10.0.0.1, inet:10002@127.0.0.1: a port at an address
        yield m.start(), m.end()


def _urls(text: str, windows: Windows) -> Iterator[tuple[int, int]]:
    for m in _scan(URL_RE, text, windows):
        url = m.group().rstrip(_URL_TRAIL)
        if len(url) > 8:
            yield m.start(), m.start() + len(url)


# Where each kind can be: seeds found by a pattern that starts with a literal or a character set
# (the regex engine skips to those fast), widened into windows for the exact patterns. Most text
# has no seed at all, so most text is scanned once per seed pattern, not once per kind.
_NUMERIC_SEED_RE = re.compile(r"[\d+(][\d \-.()+Xx]{6,}")    # phones, cards, IDs, IPv4: 7+ such characters
_EMAIL_SEED_RE = re.compile(r"@")
_IPV6_SEED_RE = re.compile(r"::|:[0-9A-Fa-f]{1,4}:")
_URL_SEED_RE = re.compile(r"://|www\.", re.IGNORECASE)


def _windows(seed: re.Pattern, text: str, before: int, after: int) -> Windows:
    out: Windows = []
    n = len(text)
    for m in seed.finditer(text):
        start, end = max(0, m.start() - before), min(n, m.end() + after)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


# kind → (seed group, finder); seed group → (seed pattern, chars before, chars after)
_SEEDS = {"numeric": (_NUMERIC_SEED_RE, 1, 3), "email": (_EMAIL_SEED_RE, 65, 260), "ipv6": (_IPV6_SEED_RE, 46, 52),
          "url": (_URL_SEED_RE, 8, 4096)}
_FINDERS: dict[str, tuple[str, Callable[[str, Windows], Iterator[tuple[int, int]]]]] = {
    "url": ("url", _urls),
    "email": ("email", _emails),
    "cn_id": ("numeric", _cn_ids),
    "credit_card": ("numeric", _cards),
    "ipv6": ("ipv6", _ipv6),
    "ipv4": ("numeric", _ipv4),
    "phone": ("numeric", _phones),
}


_IP_KINDS = ("ipv4", "ipv6")


def find_pii(text: str, kinds: list[str], keep_private_ips: bool = False) -> list[Span]:
    """Non-overlapping spans of personal data, sorted by position; on overlap the earlier kind in KINDS wins.

    keep_private_ips: do not report IP addresses of private networks (is_private_address).
    """
    windows: dict[str, Windows] = {}
    taken: list[Span] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        group, finder = _FINDERS[kind]
        if group not in windows:
            seed, before, after = _SEEDS[group]
            windows[group] = _windows(seed, text, before, after)
        if not windows[group]:
            continue
        found = finder(text, windows[group], keep_private_ips) if kind in _IP_KINDS else finder(text, windows[group])
        for start, end in found:
            if not any(start < s.end and s.start < end for s in taken):
                taken.append(Span(start, end, kind))
    taken.sort(key=lambda s: s.start)
    return taken


def redact(text: str, spans: list[Span], placeholders: dict[str, str]) -> str:
    out, pos = [], 0
    for span in spans:
        out.append(text[pos:span.start])
        out.append(placeholders[span.kind])
        pos = span.end
    out.append(text[pos:])
    return "".join(out)
