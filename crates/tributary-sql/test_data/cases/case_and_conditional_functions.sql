-- about: CASE conditions are INDIRECT CONDITIONAL uses of that column, results TRANSFORMATION; IF, NULLIF and COALESCE
-- dialect: databricks
-- input: spark://cluster lake.sales.orders [order_id, status, amount, discount, country]
select
    order_id,
    case when status = 'returned' then 0 - amount else amount end as net_amount,
    case country when 'US' then 'domestic' else 'international' end as market,
    if(discount > 0, amount - discount, amount) as charged,
    nullif(discount, 0) as discount_or_null,
    coalesce(discount, 0) as discount_or_zero
from lake.sales.orders
