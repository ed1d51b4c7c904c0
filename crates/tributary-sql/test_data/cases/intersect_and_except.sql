-- about: INTERSECT and EXCEPT return the left side's rows: the right side's columns only filter them
-- dialect: postgres
-- input: pg://db crm.public.customers [customer_id, email]
-- input: pg://db crm.public.unsubscribed [email, unsubscribed_at]
-- input: pg://db crm.public.bounced [address]
select email from customers
except
select email from unsubscribed
intersect
select address from bounced
