"""Airbyte source connector for Close.com."""
