"""Links to recordings in a message, and which of them the bot may hand to Intron.

Intron reads a link's audio itself; the bot never fetches or resolves it. So every check here
is on the URL alone and works offline: no link to Telegram (its file URLs carry the bot token),
none to this machine or a private network, none with credentials in it, http(s) only.

The checks read the host as an HTTP client would before connecting: percent-decoded,
IDNA-normalised, and any host that is a number read as the address it names (whatever way it
is written, and with an IPv4 address embedded in an IPv6 one taken out). An accepted link is
handed on with that host written plainly, so what Intron fetches is what was checked.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import idna
from telegram import Message, MessageEntity

from bot.i18n import N_

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253  # DNS's limit on a name
# The pieces of an IPv4 address written the old way (as inet_aton and the WHATWG URL parser
# read them): hex with 0x, octal with a leading 0, decimal otherwise. Hosts are lower-cased
# before they are read.
_HEX = re.compile("0x[0-9a-f]*")
_OCTAL = re.compile("0[0-7]*")
_DECIMAL = re.compile("[1-9][0-9]*")
# A host name's label once in ASCII. The underscore is not LDH, but real hosts carry it
# (older storage buckets, say) and it cannot disguise an address or another host.
_LABEL = re.compile("[a-z0-9_-]{1,63}")
# IPv6 ranges that carry an IPv4 address in their last 32 bits: a client connecting to one
# reaches (or, through a gateway, is translated to) that IPv4 address.
EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped (RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (RFC 2765)
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible, deprecated but still parsed (RFC 4291)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
# NAT64's local-use prefix (RFC 8215): each network decides which prefix length within it it
# uses, so where the IPv4 address sits, and which gateway translates it, is known only on the
# fetcher's own network. IANA lists it as not globally reachable: refused whatever it embeds.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# Telegram's own hosts and their subdomains (api.telegram.org, t.me, ...).
TELEGRAM_DOMAINS = ("t.me", "telegram.me", "telegram.org", "telegram.dog")
# Names that only ever mean this machine or a local network.
LOCAL_NAMES = ("localhost", "localdomain", "local", "internal", "lan", "home.arpa")

# Why a link is refused: message ids, translated where the chat is answered.
NOT_HTTP = N_("only http:// and https:// links can be transcribed.")
HAS_CREDENTIALS = N_("the link has a user name or password in it; share a link without them.")
TELEGRAM_LINK = N_(
    "links to Telegram cannot be transcribed; send the recording itself, or a link to the "
    "file on another site."
)
LOCAL_ADDRESS = N_(
    "the link points to a local or private network address, which Intron cannot reach."
)
MALFORMED = N_("this is not a complete web address.")
TOO_LONG = N_("the link is too long.")


@dataclass(frozen=True)
class LinkCheck:
    url: str  # as Intron will receive it (checked host, no fragment) when accepted
    refusal: str | None  # why it is refused (a message id), or None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True)
class LinkSelection:
    """What becomes of a message's links: jobs, refusals, and those over the limit."""

    taken: list[str]  # checked URLs, one job each, in the message's order
    refused: list[LinkCheck]
    skipped: int  # acceptable, but over the limit
    single: bool  # the message had one link: its answer needs no numbering


def select_links(
    links: list[str], *, limit: int, refused_hosts: frozenset[str] = frozenset()
) -> LinkSelection:
    checks = [check_link(link, refused_hosts=refused_hosts) for link in links]
    accepted = [c.url for c in checks if c.accepted]
    refused = [c for c in checks if not c.accepted]
    return LinkSelection(accepted[:limit], refused, max(0, len(accepted) - limit), len(checks) == 1)


def links_in(message: Message) -> list[str]:
    """The links of a message's text or caption, in order, each once: what Telegram marked as
    a link (`url` entities, and text with a link behind it)."""
    found: list[str] = []
    for entities, parse in (
        (message.entities, message.parse_entity),
        (message.caption_entities, message.parse_caption_entity),
    ):
        for entity in entities:
            if entity.type == MessageEntity.URL:
                link = parse(entity)
            elif entity.type == MessageEntity.TEXT_LINK and entity.url:
                link = entity.url
            else:
                continue
            if link not in found:
                found.append(link)
    return found


def check_link(link: str, *, refused_hosts: frozenset[str] = frozenset()) -> LinkCheck:
    """Whether Intron may be given this link. `refused_hosts` adds the bot's own Bot API
    hosts (a self-hosted server's file URLs carry the token as well)."""
    refusal, url = _refusal(link.strip(), refused_hosts)
    return LinkCheck(url, refusal)


def link_file_name(url: str) -> str:
    """What Intron is told the file is called: the link's last path segment, or its host."""
    parts = urlsplit(url)
    name = PurePosixPath(unquote(parts.path)).name
    return (name or parts.hostname or "link")[:128]


def _refusal(link: str, refused_hosts: frozenset[str]) -> tuple[str | None, str]:
    if len(link) > MAX_URL_LENGTH:
        return TOO_LONG, link
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in link):
        return MALFORMED, link
    if "://" not in link and ":" not in link.split("/", 1)[0]:
        link = "http://" + link  # Telegram marks bare `example.org/a.mp3` as a link, as http
    try:
        parts = urlsplit(link)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        return MALFORMED, link
    if parts.scheme.lower() not in ("http", "https"):
        return NOT_HTTP, link
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return HAS_CREDENTIALS, link
    host = _host_as_fetched(parts)
    if host is None:
        return MALFORMED, link
    bot_api_names, bot_api_addresses = _bot_api_targets(refused_hosts)
    if isinstance(host, str):
        if _within(host, TELEGRAM_DOMAINS) or host in bot_api_names:
            return TELEGRAM_LINK, link
        if _within(host, LOCAL_NAMES) or "." not in host:
            return LOCAL_ADDRESS, link
        shown = host
    else:
        if not _is_public(host):
            return LOCAL_ADDRESS, link
        if _reached(host) & bot_api_addresses:
            return TELEGRAM_LINK, link
        shown = f"[{host}]" if host.version == 6 else str(host)
    netloc = shown if port is None else f"{shown}:{port}"
    return None, urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _within(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _host_as_fetched(parts: SplitResult) -> Address | str | None:
    """The host an HTTP client connects to for this link: an address, or a lower-case ASCII
    name. None when it is no host at all, or clients would not agree on which it is."""
    raw = parts.hostname or ""
    if parts.netloc.startswith("["):
        # An IPv6 literal is never percent-decoded (a `%` there starts a zone id, which names
        # a network interface of the fetcher's own machine: dropped).
        try:
            return ipaddress.IPv6Address(raw.split("%", 1)[0])
        except ValueError:
            return None
    try:
        # Clients decode the host before they look it up: `127%2e0.0.1` is 127.0.0.1.
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    return _name_or_address(decoded)


def _name_or_address(host: str) -> Address | str | None:
    """A host as written (decoded), read the way a URL parser does: IDNA first (which also
    folds full-width digits and look-alike dots such as `t。me`), then, if its last label is
    a number, as an IPv4 address."""
    name = _ascii_name(host)
    if name is None:
        return None
    last = name.rsplit(".", 1)[-1]
    if last.isdigit() or _HEX.fullmatch(last):
        # Numeric but not an address (`1.2.3.4.5`, `0x7g.1`): parsers refuse such a host, and
        # a resolver given it would do what no check here can foresee.
        return _legacy_ipv4(name)
    return name


def _ascii_name(host: str) -> str | None:
    if host.isascii():
        name = host.lower()
    else:
        try:
            # UTS 46, non-transitional: how browsers and current HTTP clients map a name.
            name = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except UnicodeError:  # idna.IDNAError is one
            return None
    name = name.removesuffix(".")  # the root's dot: `localhost.` is localhost
    if not name or len(name) > MAX_HOST_LENGTH:
        return None
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return None  # an empty label, or `%`, `/`, `@`, a NUL... left after decoding
    return name


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`: the short, decimal, hex and octal
    forms resolvers and URL parsers still read as IPv4 addresses."""
    pieces = host.split(".")
    if not 1 <= len(pieces) <= 4:
        return None
    numbers = []
    for piece in pieces:
        if _HEX.fullmatch(piece):
            numbers.append(int(piece[2:] or "0", 16))
        elif _OCTAL.fullmatch(piece):
            numbers.append(int(piece, 8))
        elif _DECIMAL.fullmatch(piece):
            numbers.append(int(piece, 10))
        else:
            return None  # `08` is neither octal nor decimal to them
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to this IPv6 address ends up at, if it carries one."""
    if any(address in network for network in EMBEDDING_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour  # 2002::/16 carries it in bits 16 to 48


def _reached(address: Address) -> set[Address]:
    """The address and the IPv4 address inside it, if any: each may be the one reached."""
    embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    return {address} if embedded is None else {address, embedded}


def _is_public(address: Address) -> bool:
    """Reachable on the public internet. An IPv6 address carrying an IPv4 one is judged by the
    IPv4 address, not by Python's view of the IPv6 range (which differs between versions)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in LOCAL_NAT64:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _is_public(embedded)
    return address.is_global and not address.is_multicast


@lru_cache(maxsize=8)
def _bot_api_targets(hosts: frozenset[str]) -> tuple[frozenset[str], frozenset[Address]]:
    """The configured Bot API hosts read like a link's host: names, and addresses with any
    IPv4 address inside them, so a link naming the same server another way is caught."""
    names: set[str] = set()
    addresses: set[Address] = set()
    for host in hosts:
        try:
            target: Address | str | None = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            target = _name_or_address(host)
        if isinstance(target, str):
            names.add(target)
        elif target is not None:
            addresses |= _reached(target)
    return frozenset(names), frozenset(addresses)
