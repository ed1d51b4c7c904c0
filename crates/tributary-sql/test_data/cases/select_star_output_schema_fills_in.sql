-- about: SELECT t.* over an input without a schema, but the job's output has one: the output's columns are taken from the input by name
-- dialect: postgres
-- input: pg://db app.public.users
-- input: pg://db app.public.accounts [account_id, plan]
-- output: pg://db app.marts.user_accounts [id, email, account_id, plan]
select u.*, a.account_id, a.plan
from users u
join accounts a on a.account_id = u.account_id
