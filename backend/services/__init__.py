"""Business operations on the database: one module per resource, each function one transaction's work."""
