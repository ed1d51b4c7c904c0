-- about: SELECT … INTO names its target like CREATE TABLE AS
-- dialect: mssql
-- input: mssql://srv:1433 Sales.dbo.Orders [OrderID, CustomerID, Total]
-- output: mssql://srv:1433 Sales.dbo.OrdersBackup [OrderID, Total]
select OrderID, Total into dbo.OrdersBackup from dbo.Orders where Total > 0
