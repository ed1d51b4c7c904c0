-- about: SELECT * over an input without a schema (and an output without one): the columns cannot be listed; said so, and the input is read by position
-- dialect: postgres
-- input: pg://db app.public.users
select * from users where active
