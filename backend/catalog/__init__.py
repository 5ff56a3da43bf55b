"""The 25-item service catalog (办事指南): schema, loader and helpers."""
