# -*- test-case-name: tests.test_config -*-
"""
Configuration: one TOML file, validated once at start-up into a frozen tree.

Every problem is reported as a L{ConfigError} naming the key (dotted path,
with list indexes) and the problem, e.g.
C{tenants[0].certificate: file not found: var/certs/acme.test.crt}.

String values may reference environment variables as C{${NAME}} or
C{${NAME:-default}}, so secrets need not be written into the file. Relative
paths are taken relative to the working directory of the process.

Connector sections (C{[connectors.NAME]}) are validated by the connector
itself: the caller gives L{parse_config} the registry
(L{nextplane.connectors.registry.CONNECTORS} in the hub), and this module
imports no connector, so connectors may import it without a cycle.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from attrs import field, frozen
from twisted.internet import endpoints
from twisted.internet.testing import MemoryReactor

from .model.address import InvalidAddress, validate_domain

__all__ = [
    "LOG_LEVELS",
    "Config",
    "ConfigError",
    "ConnectorSpec",
    "DnsConfig",
    "HubConfig",
    "PartnerConfig",
    "RouterConfig",
    "Section",
    "StorageConfig",
    "TenantConfig",
    "TlsConfig",
    "WebConfig",
    "load_config",
    "parse_config",
]

#: Accepted C{[hub] log_level} values, most verbose first.
LOG_LEVELS = ("debug", "info", "warn", "error", "critical")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_REQUIRED: Any = object()


class ConfigError(Exception):
    """
    The configuration is not usable. C{str()} is one line naming the key.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(key, problem)
        self.key = key
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}" if self.key else self.problem


def _expand_env(value: str, key: str, environ: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(key, f"environment variable {name} is not set")

    return _ENV_REF.sub(substitute, value)


class Section:
    """
    A typed reader over one TOML table that remembers which keys were read,
    so L{finish} can reject unknown keys. Connectors use it for their own
    sections.
    """

    def __init__(self, data: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, "must be a table")
        self._data = data
        self._path = path
        self._environ = environ
        self._seen: set[str] = set()

    @property
    def path(self) -> str:
        """
        The dotted path of this section, e.g. C{connectors.xmpp}.
        """
        return self._path

    def key(self, name: str) -> str:
        """
        The full dotted name of key C{name} in this section.
        """
        return f"{self._path}.{name}" if self._path else name

    def has(self, name: str) -> bool:
        """
        Whether C{name} is present.
        """
        return name in self._data

    def _get(self, name: str, default: Any, kind: type | tuple[type, ...], label: str) -> Any:
        self._seen.add(name)
        if name not in self._data:
            if default is _REQUIRED:
                raise ConfigError(self.key(name), "required key is missing")
            return default
        value = self._data[name]
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(self.key(name), f"must be {label}, not a boolean")
        if not isinstance(value, kind):
            raise ConfigError(self.key(name), f"must be {label}, not {type(value).__name__}")
        if isinstance(value, str):
            value = _expand_env(value, self.key(name), self._environ)
        return value

    def string(self, name: str, default: Any = _REQUIRED, *, allow_empty: bool = False) -> str:
        """
        A string (with C{${ENV}} references expanded).
        """
        value = self._get(name, default, str, "a string")
        if isinstance(value, str) and not value and not allow_empty and name in self._data:
            raise ConfigError(self.key(name), "must not be empty")
        return value  # type: ignore[no-any-return]

    def optional_string(self, name: str) -> str | None:
        """
        A string, or C{None} when absent or empty after expansion.
        """
        value = self._get(name, None, str, "a string")
        return value or None

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        """
        A boolean.
        """
        return self._get(name, default, bool, "true or false")  # type: ignore[no-any-return]

    def integer(
        self,
        name: str,
        default: Any = _REQUIRED,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """
        An integer within optional bounds.
        """
        value = self._get(name, default, int, "an integer")
        if minimum is not None and value < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(self.key(name), f"must be at most {maximum}")
        return value  # type: ignore[no-any-return]

    def number(self, name: str, default: Any = _REQUIRED, *, minimum: float = 0.0) -> float:
        """
        A non-negative number (integer or float).
        """
        value = self._get(name, default, (int, float), "a number")
        if value < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum}")
        return float(value)

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _REQUIRED) -> str:
        """
        One of C{choices}.
        """
        value = self.string(name, default)
        if value not in choices:
            raise ConfigError(self.key(name), f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def strings(self, name: str, default: Any = _REQUIRED) -> tuple[str, ...]:
        """
        A list of strings.
        """
        value = self._get(name, default, list, "a list of strings")
        result = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.key(name)}[{index}]", "must be a string")
            result.append(_expand_env(item, f"{self.key(name)}[{index}]", self._environ))
        return tuple(result)

    def domain(self, name: str, default: Any = _REQUIRED) -> str:
        """
        A DNS domain, normalised to lower case.
        """
        value = self.string(name, default)
        try:
            return validate_domain(value)
        except InvalidAddress as e:
            raise ConfigError(self.key(name), str(e)) from None

    def existing_file(self, name: str, default: Any = _REQUIRED) -> str:
        """
        The path of a readable file.
        """
        value = self.string(name, default)
        path = Path(value)
        if not path.is_file():
            raise ConfigError(self.key(name), f"file not found: {value}")
        if not os.access(path, os.R_OK):
            raise ConfigError(self.key(name), f"file not readable: {value}")
        return value

    def server_endpoint(self, name: str, default: Any = _REQUIRED) -> str:
        """
        A Twisted server endpoint string such as C{tcp:8080:interface=127.0.0.1}.
        """
        value = self.string(name, default)
        try:
            # Parsing builds the endpoint without listening; it catches
            # unknown types, bad ports and (for ssl:) missing key files.
            endpoint = endpoints.serverFromString(MemoryReactor(), value)
        except Exception as e:
            raise ConfigError(self.key(name), f"bad listen endpoint {value!r}: {e}") from None
        # Parsing accepts any integer; binding then fails with a traceback.
        port = getattr(endpoint, "_port", None)
        if isinstance(port, int) and not 0 <= port <= 65535:
            raise ConfigError(self.key(name), f"port out of range in {value!r} (0-65535)")
        return value

    def section(self, name: str, *, required: bool = False) -> Section:
        """
        A sub-table (empty when absent and not required).
        """
        data = self._get(name, _REQUIRED if required else {}, dict, "a table")
        return Section(data, self.key(name), self._environ)

    def sections(self, name: str) -> list[Section]:
        """
        An array of tables, such as C{[[tenants]]}.
        """
        data = self._get(name, [], list, "an array of tables")
        return [
            Section(item, f"{self.key(name)}[{i}]", self._environ) for i, item in enumerate(data)
        ]

    def table_names(self) -> list[str]:
        """
        The keys of this table (for tables keyed by name, like connectors).
        """
        return list(self._data)

    def finish(self) -> None:
        """
        Reject keys that nothing read.

        @raise ConfigError: Naming the first unknown key.
        """
        for name in self._data:
            if name not in self._seen:
                raise ConfigError(self.key(name), "unknown key")


@frozen
class HubConfig:
    """
    C{[hub]}: process-wide settings.
    """

    data_dir: str = "var"
    log_format: str = "text"
    log_file: str | None = None
    log_level: str = "info"


@frozen
class StorageConfig:
    """
    C{[storage]}: which backend holds the hub's state.
    """

    backend: str = "sqlite"
    sqlite_path: str = "var/nextplane.sqlite3"
    postgresql_dsn: str | None = field(default=None, repr=False)
    postgresql_pool_size: int = 4
    cache_seconds: float = 5.0


@frozen
class WebConfig:
    """
    C{[web]}: the public HTTP listener (webhooks, file links, a minimal
    /healthz) and the admin listener (portal, admin API, detailed health).
    """

    listen: str = "tcp:8080:interface=127.0.0.1"
    admin_token: str | None = field(default=None, repr=False)
    public_url: str | None = None
    access_log: bool = False
    admin_listen: str = "tcp:8081:interface=127.0.0.1"
    admin_session_idle: float = 1800.0
    #: Largest request body accepted; a larger one is refused with 413 unread.
    max_request_body: int = 1 << 20


@frozen
class DnsConfig:
    """
    C{[dns]}: the resolvers the hub asks (empty: the system's).
    """

    servers: tuple[tuple[str, int], ...] = ()
    timeout: float = 5.0
    cache_seconds: float = 300.0


@frozen
class TlsConfig:
    """
    C{[tls]}: trust anchors for verifying federation peers.
    """

    ca_certificates: tuple[str, ...] = ()


@frozen
class TenantConfig:
    """
    One C{[[tenants]]} entry: a domain bound to one platform workspace, with
    the certificate and key it presents to federation peers.
    """

    domain: str
    platform: str
    workspace: str
    certificate: str
    private_key: str
    display_name: str = ""


@frozen
class PartnerConfig:
    """
    One C{[[federation.partners]]} entry: a remote domain reached by a fixed
    protocol (skipping DNS discovery), optionally at a fixed endpoint.
    """

    domain: str
    protocol: str
    route: str | None = None
    require_certificates: bool = False


@frozen
class RouterConfig:
    """
    C{[router]}: delivery rules.
    """

    require_accepted_contact: bool = True
    delivery_timeout: float = 60.0
    contact_request_ttl: float = 14 * 86400.0


class ConnectorSpec(Protocol):
    """
    What configuration needs of a connector's registry entry
    (L{nextplane.connectors.base.ConnectorEntry}).
    """

    @property
    def role(self) -> str:
        """
        C{platform} (serves tenants) or C{federation} (reaches domains).
        """

    def parse_config(self, section: Section) -> Any:
        """
        Validate the connector's C{[connectors.NAME]} section.

        @raise ConfigError: On the first problem found.
        """


@frozen
class Config:
    """
    The whole validated configuration.

    @ivar connectors: Connector name to the object its registry entry built
        from C{[connectors.NAME]}.
    """

    hub: HubConfig
    storage: StorageConfig
    web: WebConfig
    dns: DnsConfig
    tls: TlsConfig
    router: RouterConfig
    tenants: tuple[TenantConfig, ...]
    partners: tuple[PartnerConfig, ...]
    connectors: Mapping[str, Any]
    path: str | None = None

    def tenant(self, domain: str) -> TenantConfig | None:
        """
        The tenant serving C{domain}, if any.
        """
        for tenant in self.tenants:
            if tenant.domain == domain:
                return tenant
        return None

    def secrets(self) -> tuple[str, ...]:
        """
        Secret values to keep out of logs.
        """
        found = [self.web.admin_token, self.storage.postgresql_dsn]
        for connector in self.connectors.values():
            found.extend(getattr(connector, "secrets", lambda: ())())
        return tuple(s for s in found if s)


def _host_port(value: str, key: str, default_port: int) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(key, f"malformed host:port {value!r}") from None
    if not 0 < number < 65536:
        raise ConfigError(key, f"port out of range in {value!r}")
    return host, number


def _parse_hub(root: Section) -> HubConfig:
    hub = root.section("hub")
    config = HubConfig(
        data_dir=hub.string("data_dir", "var"),
        log_format=hub.choice("log_format", ("text", "json"), "text"),
        log_file=hub.optional_string("log_file"),
        log_level=hub.choice("log_level", LOG_LEVELS, "info"),
    )
    hub.finish()
    return config


def _parse_storage(root: Section) -> StorageConfig:
    storage = root.section("storage")
    backend = storage.choice("backend", ("sqlite", "postgresql"), "sqlite")
    sqlite_path = storage.string("sqlite_path", "var/nextplane.sqlite3")
    dsn = storage.optional_string("postgresql_dsn")
    pool = storage.integer("postgresql_pool_size", 4, minimum=1, maximum=64)
    cache_seconds = storage.number("cache_seconds", 5.0)
    if backend == "postgresql" and not dsn:
        raise ConfigError(storage.key("postgresql_dsn"), "required when backend is postgresql")
    storage.finish()
    return StorageConfig(backend, sqlite_path, dsn, pool, cache_seconds)


def _parse_web(root: Section) -> WebConfig:
    web = root.section("web")
    config = WebConfig(
        listen=web.server_endpoint("listen", "tcp:8080:interface=127.0.0.1"),
        admin_token=web.optional_string("admin_token"),
        public_url=web.optional_string("public_url"),
        access_log=web.boolean("access_log", False),
        admin_listen=web.server_endpoint("admin_listen", "tcp:8081:interface=127.0.0.1"),
        admin_session_idle=web.number("admin_session_idle", 1800.0),
        max_request_body=web.integer("max_request_body", 1 << 20, minimum=1024, maximum=64 << 20),
    )
    if config.admin_token is not None and len(config.admin_token) < 16:
        raise ConfigError(web.key("admin_token"), "must be at least 16 characters")
    web.finish()
    return config


def _parse_dns(root: Section) -> DnsConfig:
    dns = root.section("dns")
    servers = tuple(
        _host_port(s, f"{dns.key('servers')}[{i}]", 53)
        for i, s in enumerate(dns.strings("servers", ()))
    )
    config = DnsConfig(
        servers=servers,
        timeout=dns.number("timeout", 5.0),
        cache_seconds=dns.number("cache_seconds", 300.0),
    )
    dns.finish()
    return config


def _parse_tls(root: Section) -> TlsConfig:
    tls = root.section("tls")
    cas = tls.strings("ca_certificates", ())
    for index, path in enumerate(cas):
        if not Path(path).is_file():
            raise ConfigError(f"{tls.key('ca_certificates')}[{index}]", f"file not found: {path}")
    tls.finish()
    return TlsConfig(cas)


def _parse_router(root: Section) -> RouterConfig:
    router = root.section("router")
    config = RouterConfig(
        require_accepted_contact=router.boolean("require_accepted_contact", True),
        delivery_timeout=router.number("delivery_timeout", 60.0, minimum=1.0),
        contact_request_ttl=router.number("contact_request_ttl", 14 * 86400.0),
    )
    router.finish()
    return config


def _parse_tenants(root: Section, platforms: set[str]) -> tuple[TenantConfig, ...]:
    tenants = []
    seen: set[str] = set()
    for section in root.sections("tenants"):
        domain = section.domain("domain")
        if domain in seen:
            raise ConfigError(section.key("domain"), f"duplicate tenant domain {domain}")
        seen.add(domain)
        platform = section.string("platform")
        if platform not in platforms:
            known = ", ".join(sorted(platforms)) or "none configured"
            raise ConfigError(
                section.key("platform"),
                f"no platform connector {platform!r} is configured (configured: {known})",
            )
        tenants.append(
            TenantConfig(
                domain=domain,
                platform=platform,
                workspace=section.string("workspace"),
                certificate=section.existing_file("certificate"),
                private_key=section.existing_file("private_key"),
                display_name=section.string("display_name", "", allow_empty=True),
            )
        )
        section.finish()
    return tuple(tenants)


def _parse_partners(
    root: Section, federation_protocols: set[str], tenant_domains: set[str]
) -> tuple[PartnerConfig, ...]:
    federation = root.section("federation")
    partners = []
    for section in federation.sections("partners"):
        domain = section.domain("domain")
        if domain in tenant_domains:
            raise ConfigError(section.key("domain"), f"{domain} is a tenant of this hub")
        protocol = section.string("protocol")
        if protocol not in federation_protocols:
            known = ", ".join(sorted(federation_protocols)) or "none configured"
            raise ConfigError(
                section.key("protocol"),
                f"no federation connector {protocol!r} is configured (configured: {known})",
            )
        route = section.optional_string("route")
        if route is not None:
            _host_port(route, section.key("route"), 0)
        partners.append(
            PartnerConfig(
                domain=domain,
                protocol=protocol,
                route=route,
                require_certificates=section.boolean("require_certificates", False),
            )
        )
        section.finish()
    federation.finish()
    return tuple(partners)


def parse_config(
    data: Mapping[str, Any],
    *,
    registry: Mapping[str, ConnectorSpec],
    environ: Mapping[str, str] | None = None,
    path: str | None = None,
) -> Config:
    """
    Validate parsed TOML into a L{Config}.

    @param registry: Connector name to registry entry (the hub's is
        L{nextplane.connectors.registry.CONNECTORS}); the names it holds
        are the connectors a configuration may use.
    @raise ConfigError: On the first problem found.
    """
    env = os.environ if environ is None else environ
    root = Section(data, "", env)
    hub = _parse_hub(root)
    storage = _parse_storage(root)
    web = _parse_web(root)
    dns = _parse_dns(root)
    tls = _parse_tls(root)
    router = _parse_router(root)

    connectors: dict[str, Any] = {}
    connectors_section = root.section("connectors")
    for name in connectors_section.table_names():
        entry = registry.get(name)
        if entry is None:
            known = ", ".join(sorted(registry))
            raise ConfigError(connectors_section.key(name), f"unknown connector (known: {known})")
        section = connectors_section.section(name)
        connectors[name] = entry.parse_config(section)
        section.finish()
    connectors_section.finish()

    def with_role(role: str) -> set[str]:
        return {name for name in connectors if registry[name].role == role}

    tenants = _parse_tenants(root, with_role("platform"))
    partners = _parse_partners(root, with_role("federation"), {t.domain for t in tenants})
    root.finish()
    return Config(hub, storage, web, dns, tls, router, tenants, partners, connectors, path)


def load_config(
    path: str,
    *,
    registry: Mapping[str, ConnectorSpec],
    environ: Mapping[str, str] | None = None,
) -> Config:
    """
    Read and validate the TOML file at C{path}.

    @param registry: As for L{parse_config}.
    @raise ConfigError: If the file is missing, not TOML, or invalid.
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {path}") from None
    except OSError as e:
        raise ConfigError("", f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("", f"{path} is not valid TOML: {e}") from None
    return parse_config(data, environ=environ, registry=registry, path=path)
