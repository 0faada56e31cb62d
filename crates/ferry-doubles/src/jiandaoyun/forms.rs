//! Apps, forms and their widgets (控件): the metadata every endpoint reads. A widget's
//! `name` is the key of its value in a record (`_widget_<timestamp>`, or the field alias
//! when one is set), its `label` the caption messages name it by, its `type` one of the
//! platform's widget types.
//!
//! The default app has three forms: 客户 ([`CUSTOMER_FORM`], widgets named `_widget_…`, see
//! [`customer`]), 订单 ([`ORDER_FORM`], widgets with aliases such as `order_no`, see
//! [`order`]), so a connector meets both naming styles, and 产品 ([`PRODUCT_FORM`], empty at
//! the start: an ERP fills it with its materials, prices and stock, see [`product`]).

use serde::Serialize;

/// The id of the default app (`app_id`).
pub const APP_ID: &str = "6650c0a1f2e4b3000a1b2c3d";
/// The `entry_id` of the 客户 (customer) form.
pub const CUSTOMER_FORM: &str = "6650c0a1f2e4b3000a1b2c41";
/// The `entry_id` of the 订单 (order) form.
pub const ORDER_FORM: &str = "6650c0a1f2e4b3000a1b2c42";
/// The `entry_id` of the 产品 (product) form.
pub const PRODUCT_FORM: &str = "6650c0a1f2e4b3000a1b2c43";

/// The widget names of the 客户 form.
pub mod customer {
    pub const NAME: &str = "_widget_1715000000001";
    pub const NUMBER: &str = "_widget_1715000000002";
    pub const KIND: &str = "_widget_1715000000003";
    pub const PHONE: &str = "_widget_1715000000004";
    pub const CREDIT: &str = "_widget_1715000000005";
    pub const SIGNED_AT: &str = "_widget_1715000000006";
    pub const OWNER: &str = "_widget_1715000000007";
    pub const DEPARTMENT: &str = "_widget_1715000000008";
    pub const ADDRESS: &str = "_widget_1715000000009";
    pub const TAGS: &str = "_widget_1715000000010";
    pub const LICENCE: &str = "_widget_1715000000011";
    pub const CONTRACTS: &str = "_widget_1715000000012";
    pub const NOTE: &str = "_widget_1715000000013";
}

/// The widget names of the 订单 form (field aliases) and of its line sub-form.
pub mod order {
    pub const ORDER_NO: &str = "order_no";
    pub const CUSTOMER_NO: &str = "customer_no";
    pub const ORDERED_AT: &str = "order_date";
    pub const STATUS: &str = "status";
    pub const SALES: &str = "sales";
    pub const TEAM: &str = "team";
    pub const DEPARTMENT: &str = "sales_dept";
    pub const SHIP_TO: &str = "ship_to";
    pub const LINES: &str = "lines";
    pub const TOTAL: &str = "total";
    pub const ATTACHMENTS: &str = "attachments";
    /// 出库单号, 出库日期, 发货状态: the ERP's outbound delivery, written back.
    pub const DELIVERY_NO: &str = "delivery_no";
    pub const DELIVERED_AT: &str = "delivered_at";
    pub const DELIVERY_STATUS: &str = "delivery_status";
    /// 应收单号, 应收金额: the ERP's receivable, written back.
    pub const RECEIVABLE_NO: &str = "receivable_no";
    pub const RECEIVABLE_AMOUNT: &str = "receivable_amount";
    /// The widgets of one line of [`LINES`].
    pub mod line {
        pub const PRODUCT: &str = "_widget_1715000000101";
        pub const QTY: &str = "_widget_1715000000102";
        pub const PRICE: &str = "_widget_1715000000103";
        pub const AMOUNT: &str = "_widget_1715000000104";
        pub const DELIVER_AT: &str = "_widget_1715000000105";
    }
}

/// The widget names of the 产品 form.
pub mod product {
    pub const CODE: &str = "_widget_1715000000201";
    pub const NAME: &str = "_widget_1715000000202";
    pub const SPEC: &str = "_widget_1715000000203";
    pub const UNIT: &str = "_widget_1715000000204";
    pub const PRICE: &str = "_widget_1715000000205";
    pub const STOCK: &str = "_widget_1715000000206";
}

/// The widget types the double models, by their wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WidgetType {
    /// Single-line text: a string.
    Text,
    /// Multi-line text: a string.
    Textarea,
    /// A number.
    Number,
    /// Date and time: an ISO string in UTC, `2024-05-01T10:00:00.000Z`.
    Datetime,
    /// Single choice (radio buttons): a string.
    Radiogroup,
    /// Single choice (drop-down): a string.
    Combo,
    /// Multiple choice (check boxes): an array of strings.
    Checkboxgroup,
    /// Multiple choice (drop-down): an array of strings.
    Combocheck,
    /// One member: written as a username, read as `{"username", "name"}`.
    User,
    /// Several members: an array of usernames / of `{"username", "name"}`.
    Usergroup,
    /// One department: written as a `dept_no`, read as `{"dept_no", "name"}`.
    Dept,
    /// Several departments.
    Deptgroup,
    /// `{"province", "city", "district", "detail"}`.
    Address,
    /// Images: `[{"name", "size", "mime", "url"}]`.
    Image,
    /// Attachments: `[{"name", "size", "mime", "url"}]`.
    Upload,
    /// A sub-form: an array of rows, each with its `_id` and the values of its own widgets.
    Subform,
    /// A serial number, set by the platform; writes to it are ignored.
    Sn,
}

impl WidgetType {
    /// Text-like widgets, filtered with `eq, ne, in, nin, empty, not_empty`.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Self::Text | Self::Textarea | Self::Radiogroup | Self::Combo | Self::Sn
        )
    }
}

/// One widget of a form or of a sub-form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Widget {
    /// The key of the value in a record: `_widget_1715000000001` or the alias.
    pub name: String,
    /// The caption: `客户名称`.
    pub label: String,
    #[serde(rename = "type")]
    pub kind: WidgetType,
    /// Refused when empty on write, only when the run enforces required widgets.
    #[serde(skip)]
    pub required: bool,
    /// The widgets of a sub-form's rows (empty for other types).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Widget>,
    /// What a serial number (`sn`) starts with: `DD` gives `DD000001`, `DD000002` ….
    #[serde(skip)]
    pub serial_prefix: String,
}

impl Widget {
    pub fn new(name: &str, label: &str, kind: WidgetType) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind,
            required: false,
            items: Vec::new(),
            serial_prefix: String::new(),
        }
    }

    /// A serial number widget numbering records `<prefix>000001` on.
    pub fn serial(name: &str, label: &str, prefix: &str) -> Self {
        Self {
            serial_prefix: prefix.into(),
            ..Self::new(name, label, WidgetType::Sn)
        }
    }

    /// The same widget, required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// A sub-form with these row widgets.
    pub fn subform(name: &str, label: &str, items: Vec<Widget>) -> Self {
        Self {
            items,
            ..Self::new(name, label, WidgetType::Subform)
        }
    }
}

/// A form (表单, `entry`): its id, name and widgets in display order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    pub entry_id: String,
    pub name: String,
    pub widgets: Vec<Widget>,
}

impl Form {
    /// The widget called `name`.
    pub fn widget(&self, name: &str) -> Option<&Widget> {
        self.widgets.iter().find(|w| w.name == name)
    }
}

/// An app (应用) and its forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub app_id: String,
    pub name: String,
    pub forms: Vec<Form>,
}

impl App {
    /// The form with this `entry_id`.
    pub fn form(&self, entry_id: &str) -> Option<&Form> {
        self.forms.iter().find(|f| f.entry_id == entry_id)
    }
}

/// The default app: 客户管理 with the 客户, 订单 and 产品 forms.
pub fn default_app() -> App {
    App {
        app_id: APP_ID.into(),
        name: "客户管理".into(),
        forms: vec![customer_form(), order_form(), product_form()],
    }
}

fn customer_form() -> Form {
    use WidgetType::*;
    use customer::*;
    Form {
        entry_id: CUSTOMER_FORM.into(),
        name: "客户".into(),
        widgets: vec![
            Widget::new(NAME, "客户名称", Text).required(),
            Widget::new(NUMBER, "客户编号", Text),
            Widget::new(KIND, "客户类型", Radiogroup),
            Widget::new(PHONE, "联系电话", Text),
            Widget::new(CREDIT, "信用额度", Number),
            Widget::new(SIGNED_AT, "签约日期", Datetime),
            Widget::new(OWNER, "负责人", User),
            Widget::new(DEPARTMENT, "所属部门", Dept),
            Widget::new(ADDRESS, "地址", Address),
            Widget::new(TAGS, "标签", Checkboxgroup),
            Widget::new(LICENCE, "营业执照", Image),
            Widget::new(CONTRACTS, "合同附件", Upload),
            Widget::new(NOTE, "备注", Textarea),
        ],
    }
}

fn order_form() -> Form {
    use WidgetType::*;
    use order::*;
    let lines = vec![
        Widget::new(line::PRODUCT, "产品名称", Text).required(),
        Widget::new(line::QTY, "数量", Number).required(),
        Widget::new(line::PRICE, "单价", Number),
        Widget::new(line::AMOUNT, "金额", Number),
        Widget::new(line::DELIVER_AT, "交货日期", Datetime),
    ];
    Form {
        entry_id: ORDER_FORM.into(),
        name: "订单".into(),
        widgets: vec![
            Widget::serial(ORDER_NO, "订单编号", "DD"),
            Widget::new(CUSTOMER_NO, "客户编号", Text).required(),
            Widget::new(ORDERED_AT, "下单日期", Datetime),
            Widget::new(STATUS, "订单状态", Combo),
            Widget::new(SALES, "销售员", User),
            Widget::new(TEAM, "协作成员", Usergroup),
            Widget::new(DEPARTMENT, "销售部门", Dept),
            Widget::new(SHIP_TO, "收货地址", Address),
            Widget::subform(LINES, "订单明细", lines),
            Widget::new(TOTAL, "订单金额", Number),
            Widget::new(ATTACHMENTS, "附件", Upload),
            Widget::new(DELIVERY_NO, "出库单号", Text),
            Widget::new(DELIVERED_AT, "出库日期", Datetime),
            Widget::new(DELIVERY_STATUS, "发货状态", Combo),
            Widget::new(RECEIVABLE_NO, "应收单号", Text),
            Widget::new(RECEIVABLE_AMOUNT, "应收金额", Number),
        ],
    }
}

fn product_form() -> Form {
    use WidgetType::*;
    use product::*;
    Form {
        entry_id: PRODUCT_FORM.into(),
        name: "产品".into(),
        widgets: vec![
            Widget::new(CODE, "产品编码", Text).required(),
            Widget::new(NAME, "产品名称", Text).required(),
            Widget::new(SPEC, "规格型号", Text),
            Widget::new(UNIT, "单位", Text),
            Widget::new(PRICE, "标准售价", Number),
            Widget::new(STOCK, "库存数量", Number),
        ],
    }
}
