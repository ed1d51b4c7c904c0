-- about: dbt templating left in the SQL does not parse: an error with the parser's message and position
-- dialect: postgres
-- input: pg://db analytics.staging.stg_orders [order_id]
select order_id
from {{ ref('stg_orders') }}
