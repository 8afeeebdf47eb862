"""
Prometheus metrics of the hub, served at C{/metrics}.

  - L{nextplane.metrics.routing}: events routed, routing and delivery
    latency, counted by wrapping the router each connector routes through;
  - L{nextplane.metrics.collector}: what is read at scrape time from the
    running parts (queues, federation connections, certificates, health);
  - L{nextplane.metrics.tally}: platform API answers bumped by connectors;
  - L{nextplane.metrics.web}: the C{/metrics} resource.

No label carries a user address or content: labels are platform and
connector names, decisions, categories, tenant and peer domains.
"""
