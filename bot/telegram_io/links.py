"""Links to recordings in a message, and which of them the bot may hand to Intron.

Intron reads a link's audio itself; the bot never fetches or resolves it. So every check here
is on the URL alone and works offline: no link to Telegram (its file URLs carry the bot token),
none to this machine or a private network, none with credentials in it, http(s) only.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

from telegram import Message, MessageEntity

from bot.i18n import N_

MAX_URL_LENGTH = 2048
_HEX = re.compile("0[xX][0-9a-fA-F]*")
_OCTAL = re.compile("0[0-7]+")
_DECIMAL = re.compile("[0-9]+")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway
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
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        return MALFORMED, link
    address = _ip_literal(raw_host)
    if address is not None:
        if not address.is_global or address.is_multicast:
            return LOCAL_ADDRESS, link
        host = f"[{address}]" if address.version == 6 else str(address)
    else:
        try:
            # IDNA also folds look-alike dots (`t。me`) the way a resolver would.
            host = raw_host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return MALFORMED, link
        if _within(host, TELEGRAM_DOMAINS) or host in refused_hosts:
            return TELEGRAM_LINK, link
        if _within(host, LOCAL_NAMES) or "." not in host:
            return LOCAL_ADDRESS, link
        if all(c.isdigit() or c in ".x" for c in host):
            return MALFORMED, link  # numeric but not an address: no resolver agrees on it
    netloc = host if port is None else f"{host}:{port}"
    return None, urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _within(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names by itself, in any form an HTTP client may accept: IPv6,
    dotted IPv4, and the old short, decimal, octal and hex forms (`127.1`, `2130706433`,
    `0x7f.0.0.1`), which resolvers still read as addresses."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        address = _legacy_ipv4(host)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not embedded.is_global:
            return embedded
    return address


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
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
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)
