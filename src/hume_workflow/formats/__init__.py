"""Files of the pipeline: readers, writers and their typed records, one module per file kind.

The bottom layer: a formats module imports only hume_workflow.errors, hume_workflow.logs and
other formats modules (tests/unit/test_imports.py); what interprets a config or aligns rows
lives above it.
"""
