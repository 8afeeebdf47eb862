"""
Administration on the admin listener: the JSON API under C{/admin/api/}
(tenants, users, contacts, domain policy, revocation, the metadata log,
usage by day and month, the audit; OpenAPI at C{/admin/openapi.json}), the
portal under C{/portal/}, admin accounts, sessions and the audit trail, and
the C{nextplane-admin} command.

See L{nextplane.admin.api.AdminAPI} and L{nextplane.admin.portal.app.Portal}.
"""
