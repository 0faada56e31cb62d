//! Fixed base data the double does not serve as forms: organisations, warehouses, units,
//! currencies, settlement types and receipt purposes. Bills and base data refer to them by
//! `{"FNumber": …}` like to any base data; they cannot be changed.

/// One fixed base-data item: internal id, number and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: u64,
    pub number: &'static str,
    pub name: &'static str,
}

const fn item(id: u64, number: &'static str, name: &'static str) -> Item {
    Item { id, number, name }
}

/// Organisations (组织): `100` is the one every seeded record belongs to.
pub const ORGS: &[Item] = &[
    item(1, "100", "蓝海科技集团"),
    item(100501, "101", "蓝海科技上海有限公司"),
    item(100502, "102", "蓝海科技深圳有限公司"),
];

/// Warehouses (仓库).
pub const STOCKS: &[Item] = &[
    item(100101, "CK001", "成品仓"),
    item(100102, "CK002", "原材料仓"),
];

/// Units of measure (计量单位).
pub const UNITS: &[Item] = &[
    item(10101, "Pcs", "Pcs"),
    item(10095, "kg", "千克"),
    item(10087, "m", "米"),
    item(10088, "L", "升"),
];

/// Currencies (币别).
pub const CURRENCIES: &[Item] = &[item(1, "PRE001", "人民币"), item(7, "PRE007", "美元")];

/// Settlement types (结算方式).
pub const SETTLE_TYPES: &[Item] = &[item(1, "JSFS01_SYS", "现金"), item(4, "JSFS04_SYS", "电汇")];

/// Receipt purposes (收付款用途).
pub const PURPOSES: &[Item] = &[item(20010, "SFKYT01_SYS", "销售收款")];

/// The item of `items` with this number (numbers compare without case, as on SQL Server).
pub fn by_number(items: &'static [Item], number: &str) -> Option<&'static Item> {
    items.iter().find(|i| i.number.eq_ignore_ascii_case(number))
}

/// The item of `items` with this name.
pub fn by_name(items: &'static [Item], name: &str) -> Option<&'static Item> {
    items.iter().find(|i| i.name == name)
}
