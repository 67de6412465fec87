//! The scene as one self-contained HTML page: the binary glTF inlined (base64) with twinplan's
//! own small WebGL viewer (`assets/scene_viewer.js`: drag to turn, wheel to zoom, the labels with
//! leader lines and a legend), so that it opens offline from one file in any browser.

use crate::core::report::html::{base64, esc};

const VIEWER: &str = include_str!("../../../assets/scene_viewer.js");

pub fn write_html(title: &str, glb: &[u8]) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         html,body{{margin:0;height:100%;background:#1f2126;color:#ddd;font-family:sans-serif;overflow:hidden}}\
         #view{{width:100%;height:100%;display:block}}\
         #legend{{position:absolute;left:12px;top:12px;background:rgba(0,0,0,.55);padding:8px 10px;border-radius:4px;font-size:14px}}\
         .swatch{{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:2px}}\
         .label{{position:absolute;background:rgba(0,0,0,.65);color:#ffe678;padding:2px 5px;\
         border-radius:3px;font-size:14px;white-space:nowrap;pointer-events:none;border:1px solid #ffe678}}\
         #leaders{{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}}\
         #leaders line{{stroke:#ffe678;stroke-width:1.5}} #leaders circle{{fill:#ffe678}}\
         #note{{position:absolute;right:12px;bottom:10px;font-size:12px;color:#999}}</style></head><body>\
         <canvas id=\"view\"></canvas><svg id=\"leaders\"></svg><div id=\"legend\"><b>{t}</b></div>\
         <div id=\"note\">Drag to turn, wheel to zoom. Research software, not a medical device.</div>\
         <script id=\"scene\" type=\"application/octet-stream\">{b}</script>\n<script>\n{VIEWER}</script></body></html>\n",
        t = esc(title),
        b = base64(glb),
    )
}
