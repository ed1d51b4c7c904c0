-- about: PIVOT (best effort): the pivoted columns aggregate the value column, split (filtered) by the pivot column; other columns pass through
-- dialect: snowflake
-- input: snowflake://acct SALES.PUBLIC.MONTHLY [EMPID, AMOUNT, MONTH]
select empid, jan, feb
from sales.public.monthly
    pivot (sum(amount) for month in ('JAN' as jan, 'FEB' as feb)) as p
