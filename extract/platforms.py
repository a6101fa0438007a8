"""The platforms this tool imports: config key -> extractor module."""

from types import ModuleType

from extract import csv_template, freshdesk, gmail, gorgias, kustomer, zendesk

PLATFORMS: dict[str, ModuleType] = {
    module.NAME: module for module in (zendesk, csv_template, freshdesk, kustomer, gorgias, gmail)
}
