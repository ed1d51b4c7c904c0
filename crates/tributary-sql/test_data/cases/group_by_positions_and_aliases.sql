-- about: GROUP BY 1, 2 and ORDER BY an output alias resolve to the select list's columns
-- dialect: redshift
-- input: redshift://cluster:5439 dw.public.sales [region, product, sold_at, quantity, price]
select region, extract(year from sold_at) as sales_year, sum(quantity * price) as revenue
from public.sales
group by 1, 2
order by revenue desc
