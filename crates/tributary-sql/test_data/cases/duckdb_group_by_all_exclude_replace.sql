-- about: DuckDB: GROUP BY ALL groups by the non-aggregated columns; * EXCLUDE and * REPLACE
-- dialect: duckdb
-- input: duckdb:///data.db main.trips [trip_id, vendor, pickup_at, distance, fare, driver_ssn]
with cleaned as (
    select * exclude (driver_ssn) replace (round(fare, 2) as fare) from trips
)
select vendor, date_trunc('day', pickup_at) as day, sum(fare) as fares, avg(distance) as avg_distance
from cleaned
group by all
