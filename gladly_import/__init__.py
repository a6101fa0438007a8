"""Run a Gladly historical import: extract, transform with dbt, export the Gladly CSV."""

__version__ = "0.1.0"
