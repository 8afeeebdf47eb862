"""
The admin API: a JSON HTTP API under C{/admin/api/} for tenants, users,
contacts, domain policy, revocation, the metadata log and usage aggregates,
with its OpenAPI document at C{/admin/openapi.json}.

See L{nextplane.admin.api.AdminAPI}.
"""
