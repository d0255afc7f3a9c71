-- One server, two databases: the warehouse and Dagster's own storage.
CREATE DATABASE warehouse;
CREATE DATABASE dagster;
