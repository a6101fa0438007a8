"""Run a Gladly historical import: extract, transform with dbt, export the Gladly CSV."""
