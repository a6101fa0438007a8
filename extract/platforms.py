"""The platforms this tool imports: their declarations (``extract.platform.Platform``), by config key."""

from extract import csv_template, freshdesk, gmail, gorgias, kustomer, zendesk
from extract.platform import Platform

PLATFORMS: dict[str, Platform] = {
    module.PLATFORM.name: module.PLATFORM for module in (zendesk, csv_template, freshdesk, kustomer, gorgias, gmail)
}
