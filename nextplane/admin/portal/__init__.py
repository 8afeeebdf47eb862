"""
The admin portal: server-rendered pages (Jinja2) on the admin listener,
apart from the JSON API; see L{nextplane.admin.portal.app.Portal}.
"""
