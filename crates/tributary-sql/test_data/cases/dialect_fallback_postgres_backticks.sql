-- about: SQL that does not parse in the requested dialect (backticks in postgres) is parsed by a permissive fallback, which the result names
-- dialect: postgres
-- input: pg://db shop.public.orders [id, total]
select `id`, `total` * 2 as `double_total` from `orders`
