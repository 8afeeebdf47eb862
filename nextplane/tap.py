# -*- test-case-name: tests.test_tap -*-
"""
The composition root: C{twistd nextplane --config PATH}.

L{makeService} is the one place that builds and wires the hub: the log
observer, the DNS resolver, the store, the router and its federation
locator, every configured connector, and the HTTP app, as children of one
L{HubService} that starts them in this order and stops them in reverse:

    storage -> tenants -> contact expiry -> connectors... -> web -> admin

The public HTTP listener serves a minimal /healthz, /readyz and whatever
the connectors mount (webhooks, file links); the admin listener
(C{[web] admin_listen}) serves the portal under /portal/, the admin API
under /admin/, /metrics and the detailed /healthz.

Each connector routes through a L{MeteredSink} around the router, which
counts routed events for /metrics. L{makeService} adds what only a real
process has: the log file, SIGHUP reload (L{nextplane.reload}) and systemd
readiness notification (L{nextplane.sdnotify}).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Any, ClassVar, cast

import attrs
from prometheus_client import CollectorRegistry
from twisted.internet import endpoints
from twisted.internet.interfaces import IResolver
from twisted.names import client as dns_client
from twisted.python import usage

from . import __version__
from .admin.access import AdminAccess
from .admin.accounts import Accounts, thread_runner, utc_now
from .admin.api import AdminAPI
from .admin.portal.app import Portal
from .admin.sessions import LoginThrottle, SessionBook
from .check.certificates import startup_problem
from .config import Config, ConfigError, load_config
from .connectors.registry import CONNECTORS, ConnectorContext, ConnectorEntry
from .contacts import ContactBook, ContactExpiryService
from .federation_health import FederationHealthBook
from .interfaces import IStore
from .locate import FederationLocator, route_protocols
from .logs import HubLogging, ReopenableFile, parse_level
from .metrics.collector import HubCollector
from .metrics.routing import MeteredSink, RoutingMetrics
from .metrics.web import mount_metrics
from .presence import PresenceBook
from .reload import Reloader, ReloadService
from .router import Router
from .sdnotify import Notifier
from .service import EndpointService, HubService, StoreService, TenantSyncService, exit_on_fatal
from .storage.admin import admin_store_for
from .storage.cache import CachingStore
from .storage.records import TenantRecord
from .web.app import HubWebApp, hub_site
from .web.ready import ReadyResource, hub_readiness

__all__ = ["Options", "build_hub", "makeService"]


class Options(usage.Options):
    """
    Command-line options: where the configuration is, and the log format.
    Everything else lives in the configuration file.
    """

    synopsis = "[options]"
    longdesc = (
        "Run the nextplane messaging interoperability hub. All settings are in "
        "the TOML configuration file; see etc/nextplane.example.toml."
    )
    optFlags: ClassVar[list[list[Any]]] = [
        [
            "check",
            None,
            "Check the configuration (certificates, DNS, partners, credentials) and exit.",
        ],
        ["json", None, "With --check: print the findings as JSON."],
    ]
    optParameters: ClassVar[list[list[Any]]] = [
        ["config", "c", "etc/nextplane.toml", "Path to the TOML configuration file."],
        [
            "log-format",
            None,
            None,
            "Log output format: 'text' or 'json' (JSON lines). Overrides [hub] log_format.",
        ],
    ]

    def opt_version(self) -> None:
        """
        Print nextplane's version and exit.
        """
        from twisted import copyright

        print(f"nextplane {__version__} (Twisted {copyright.version})")
        sys.exit(0)

    def postOptions(self) -> None:
        if self["log-format"] not in (None, "text", "json"):
            raise usage.UsageError("--log-format must be 'text' or 'json'")


def make_store(config: Config, reactor: Any) -> IStore:
    """
    The configured storage backend (not yet opened).
    """
    if config.storage.backend == "postgresql":
        from .storage.postgres import PostgresStore

        assert config.storage.postgresql_dsn is not None
        return PostgresStore(
            config.storage.postgresql_dsn,
            reactor=reactor,
            pool_size=config.storage.postgresql_pool_size,
        )
    from .storage.sqlite import SQLiteStore

    return SQLiteStore(config.storage.sqlite_path, reactor=reactor)


def make_resolver(config: Config, reactor: Any) -> IResolver:
    """
    The DNS resolver for federation discovery: the configured servers, or
    the system's (C{/etc/resolv.conf}).
    """
    timeout = (config.dns.timeout,)
    if config.dns.servers:
        return dns_client.Resolver(  # type: ignore[no-any-return]
            servers=list(config.dns.servers), reactor=reactor, timeout=timeout
        )
    return dns_client.Resolver(resolv="/etc/resolv.conf", reactor=reactor, timeout=timeout)  # type: ignore[no-any-return]


def build_hub(
    config: Config,
    reactor: Any,
    *,
    store: IStore | None = None,
    resolver: IResolver | None = None,
    log_observer: Any = None,
    on_fatal: Any = None,
    registry: Mapping[str, ConnectorEntry] | None = None,
) -> HubService:
    """
    Build and wire the whole hub from a validated configuration.

    Tests pass their own C{store}, C{resolver}, C{reactor} and connector
    C{registry} (the one C{config} was parsed with).

    @return: The root service; its attributes C{router}, C{web_app},
        C{store} and C{connectors} give tests access to the parts.
    """
    connectors_available = registry if registry is not None else CONNECTORS
    store = store if store is not None else make_store(config, reactor)
    if config.storage.cache_seconds > 0:
        # Every part of the hub reads through one cache, so its own writes
        # are never read stale; see nextplane.storage.cache.
        store = CachingStore(store, reactor, ttl=config.storage.cache_seconds)
    resolver = resolver if resolver is not None else make_resolver(config, reactor)
    hub = HubService(on_fatal=on_fatal, log_observer=log_observer)

    storage = StoreService(store)
    storage.setServiceParent(hub)
    TenantSyncService(
        store,
        [TenantRecord(t.domain, t.platform, t.workspace, t.display_name) for t in config.tenants],
    ).setServiceParent(hub)

    local_domains = frozenset(t.domain for t in config.tenants)
    contacts = ContactBook(store, reactor, lambda address: address.domain in local_domains)
    if config.router.contact_request_ttl > 0:
        ContactExpiryService(
            contacts, reactor, timedelta(seconds=config.router.contact_request_ttl)
        ).setServiceParent(hub)

    federation = [n for n in config.connectors if connectors_available[n].role == "federation"]
    locator = FederationLocator(
        config.partners,
        federation,
        resolver,
        reactor,
        cache_seconds=config.dns.cache_seconds,
        routes=route_protocols(
            {n: connectors_available[n].static_domains(config.connectors[n]) for n in federation},
            federation,
        ),
    )
    presence = PresenceBook()
    metrics = CollectorRegistry()
    routing = RoutingMetrics(
        metrics, reactor, {t.domain: t.platform for t in config.tenants}, locator.known_protocol
    )
    router = Router(
        store=store,
        tenants=config.tenants,
        locator=locator,
        clock=reactor,
        require_accepted_contact=config.router.require_accepted_contact,
        delivery_timeout=config.router.delivery_timeout,
        presence=presence,
        contacts=contacts,
    )
    web_app = HubWebApp({"storage": storage.health}, __version__, public=True)
    admin_web = HubWebApp({"storage": storage.health}, __version__, home="/portal/")
    admin_store = admin_store_for(store)
    access = AdminAccess(
        config.web.admin_token,
        Accounts(admin_store, utc_now(reactor), thread_runner(reactor)),
        SessionBook(reactor, idle=config.web.admin_session_idle),
        LoginThrottle(reactor),
    )
    admin_api = AdminAPI(
        store,
        config.web.admin_token,
        reactor,
        on_revoke=[router.revoke],
        admin_store=admin_store,
        access=access,
        contacts=contacts,
    )
    health_book = FederationHealthBook(reactor)
    portal = Portal(store, admin_store, reactor, access, admin_api.revocations, health_book)
    admin_web.mount("admin", admin_api.resource())
    admin_web.mount("portal", portal.resource())
    context = ConnectorContext(
        reactor=reactor,
        store=store,
        sink=router,
        config=config,
        resolver=resolver,
        mount=web_app.mount,
        on_revoke=admin_api.add_revocation_listener,
        on_policy_change=admin_api.add_policy_listener,
        presence=presence,
        profiles=router.profile_of,
        federation_health=health_book,
        contacts=contacts,
    )
    connectors = {}
    for name, connector_config in config.connectors.items():
        metered = attrs.evolve(context, sink=MeteredSink(router, routing, name))
        connector = connectors_available[name].build(metered, connector_config)
        connector.setName(name)
        connector.setServiceParent(hub)
        router.add_connector(connector)
        web_app.add_health_source(name, connector.health)
        admin_web.add_health_source(name, connector.health)
        connectors[name] = connector

    web = EndpointService(
        "web",
        endpoints.serverFromString(reactor, config.web.listen),
        hub_site(web_app.resource(), config.web.access_log, config.web.max_request_body),
        "(HTTP: webhooks, file links, /healthz)",
    )
    web.setServiceParent(hub)
    web_app.add_health_source("web", web.health)
    admin_web.add_health_source("web", web.health)
    admin = EndpointService(
        "admin",
        endpoints.serverFromString(reactor, config.web.admin_listen),
        hub_site(admin_web.resource(), config.web.access_log, config.web.max_request_body),
        "(HTTP: portal /portal/, admin API /admin/api/, /metrics, /healthz)",
    )
    admin.setServiceParent(hub)
    admin_web.add_health_source("admin", admin.health)
    health = {"storage": storage.health, **{n: c.health for n, c in connectors.items()}}
    health["web"] = web.health
    health["admin"] = admin.health
    metrics.register(HubCollector(health, connectors, config.tenants, reactor))
    # Metrics are internals: on the admin listener only.
    mount_metrics(admin_web.mount, metrics, config.web.admin_token)
    web_app.mount("readyz", ReadyResource(hub_readiness(hub.started, storage.health, connectors)))

    hub.router = router  # type: ignore[attr-defined]
    hub.web_app = web_app  # type: ignore[attr-defined]
    hub.admin_api = admin_api  # type: ignore[attr-defined]
    hub.admin_web = admin_web  # type: ignore[attr-defined]
    hub.admin = admin  # type: ignore[attr-defined]
    hub.portal = portal  # type: ignore[attr-defined]
    hub.federation_health = health_book  # type: ignore[attr-defined]
    hub.web = web  # type: ignore[attr-defined]
    hub.store = store  # type: ignore[attr-defined]
    hub.contacts = contacts  # type: ignore[attr-defined]
    hub.connectors = connectors  # type: ignore[attr-defined]
    hub.locator = locator  # type: ignore[attr-defined]
    hub.metrics = metrics  # type: ignore[attr-defined]
    return hub


def _fail(message: str, stderr: IO[str]) -> SystemExit:
    stderr.write(f"nextplane: {message}\n")
    stderr.flush()
    return SystemExit(2)


def require_storage_driver(config: Config) -> None:
    """
    @raise ConfigError: If the configured backend's driver is not installed
        (PostgreSQL is the C{nextplane[postgresql]} extra).
    """
    if config.storage.backend == "postgresql" and not all(
        importlib.util.find_spec(name) for name in ("txpostgres", "psycopg2")
    ):
        raise ConfigError(
            "storage.backend",
            "postgresql needs its driver: pip install 'nextplane[postgresql]'",
        )


def _log_output(options: Options, config: Config, stderr: IO[str]) -> tuple[IO[str], bool]:
    """
    Where the hub logs, and whether the command line chose it: twistd's
    --logfile (the hub's observer replaces twistd's own) wins over
    C{[hub] log_file}; "-" or neither: standard output.
    """
    parent = getattr(options, "parent", None)
    logfile = parent.get("logfile") if parent is not None else None
    pinned = bool(logfile and logfile != "-")
    path = logfile if pinned else config.hub.log_file
    if not path:
        return sys.stdout, pinned
    try:
        # A text file that reopens by name (for logrotate).
        return cast(IO[str], ReopenableFile(path)), pinned
    except OSError as e:
        raise _fail(f"configuration error: hub.log_file: {e.strerror}: {path}", stderr) from None


def load_valid_config(path: str, now: datetime) -> Config:
    """
    Read and validate the configuration at C{path} as start-up does, the
    tenants' certificates as of C{now} included (a reload refuses what
    start-up would).

    @raise ConfigError: On the first problem.
    """
    config = load_config(path, registry=CONNECTORS)
    require_storage_driver(config)
    problem = startup_problem(config, now)
    if problem is not None:
        raise problem
    return config


def makeService(
    options: Options,
    reactor: Any = None,
    stderr: IO[str] | None = None,
    now: datetime | None = None,
) -> HubService:
    """
    Build the hub as twistd asks: read and validate the configuration
    (a bad one prints one line and exits with status 2), including the
    tenants' certificates as of C{now} (default: the wall clock), then wire
    the hub, reloading on SIGHUP and telling systemd when it is ready.
    """
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    stderr = stderr if stderr is not None else sys.stderr
    if options["check"]:
        # The diagnostic runs the reactor itself and exits with its status.
        from .cli import main as cli_main

        raise SystemExit(
            cli_main(
                ["check", "--config", options["config"], *(["--json"] if options["json"] else [])]
            )
        )
    try:
        config = load_valid_config(options["config"], now or datetime.now(UTC))
    except ConfigError as e:
        raise _fail(f"configuration error: {e}", stderr) from None

    log_format = options["log-format"] or config.hub.log_format
    out, pinned = _log_output(options, config, stderr)
    logging = HubLogging(log_format, out, config.secrets(), parse_level(config.hub.log_level))
    hub = build_hub(config, reactor, log_observer=logging.observer, on_fatal=exit_on_fatal(reactor))
    hub.started.addErrback(lambda _: None)  # exit_on_fatal reports it

    notifier = Notifier()
    hub.started.addCallback(lambda _: notifier.notify("READY=1"))
    reactor.addSystemEventTrigger("before", "shutdown", notifier.notify, "STOPPING=1")
    reloader = Reloader(
        config,
        store=hub.store,  # type: ignore[attr-defined]
        locator=hub.locator,  # type: ignore[attr-defined]
        connectors=hub.connectors,  # type: ignore[attr-defined]
        logging=logging,
        log_path_pinned=pinned,
        notifier=notifier,
        load=lambda path: load_valid_config(path, datetime.now(UTC)),
    )
    ReloadService(reloader, reactor, hub.started).setServiceParent(hub)
    hub.reloader = reloader  # type: ignore[attr-defined]
    return hub
