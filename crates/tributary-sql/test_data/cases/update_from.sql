-- about: UPDATE … FROM (best effort): assigned columns from the other table, the WHERE join a filter
-- dialect: postgres
-- input: pg://db shop.public.prices [product_id, new_price]
-- output: pg://db shop.public.products [product_id, price, updated_at]
update products p
set price = pr.new_price, updated_at = now()
from prices pr
where pr.product_id = p.product_id
