-- about: SELECT * over an input with a known schema is expanded into its columns, and the input is read by position
-- dialect: postgres
-- input: pg://db app.public.users [id, email, created_at]
select * from users where created_at > now() - interval '7 days'
