"""The public API: data endpoints for `gradio_client` and MCP tools."""
