"""Where the data lives: presets for billing and CRM exports, currencies, database queries, one refresh.

presets.py  Stripe, HubSpot, ChartMogul and Salesforce exports -> canonical columns, before the importer maps them
fx.py       the reporting currency, exchange rates and the conversion rule applied at import
db.py       rows of a PostgreSQL query as a table the importer reads like a file
refresh.py  sources.toml: every source loaded in one transaction
"""
