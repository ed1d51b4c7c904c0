-- about: what cannot be resolved is named, not guessed: a column two inputs have (id), a column two relations without schemas may have (kind), a relation matching two datasets equally (events), a relation matching none (missing_table)
-- dialect: postgres
-- input: pg://db app.public.orders [id, user_id, amount]
-- input: pg://db app.public.users [id, name]
-- input: pg://db app.archive.events
-- input: pg://db app.public.events
select id, name, amount, kind
from orders o
join users u on u.id = o.user_id
join events e on e.order_id = o.id
join missing_table m on m.order_id = o.id
