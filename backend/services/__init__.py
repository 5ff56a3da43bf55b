"""Business operations on the database: one module per resource, each function one transaction's work.

A service takes its own command types (frozen dataclasses or pydantic models defined beside it, e.g.
`backend.services.cases.NewCase`), never the REST API's bodies: the API and the staff console both parse their input
and call the same service, which states its invariants in its docstring.
"""
