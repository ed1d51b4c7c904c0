-- about: MySQL backticks and functions; two statements of one job, the second a bare select
-- dialect: mysql
-- input: mysql://db:3306 shop.orders [id, customer_id, total, created_at]
-- output: mysql://db:3306 shop.daily_totals [day, total]
insert into `shop`.`daily_totals` (`day`, `total`)
select date(`created_at`), sum(`total`) from `shop`.`orders` group by date(`created_at`);
select ifnull(max(total), 0) as max_total from shop.orders;
