"""A continent of countries: one static partition per continent code."""

import dagster as dg

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
continent_partitions = dg.StaticPartitionsDefinition(list(CONTINENTS))
