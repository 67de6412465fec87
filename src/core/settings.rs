//! The user's preferences and recent work, kept between sessions in a small TOML file in the
//! user's config directory. They are never a reason not to start: a file that cannot be read is
//! moved aside and the defaults used, with a notice saying so; a value out of range is replaced
//! by its default, also with a notice. Plans and reports stay in LPS whatever is shown.

use std::path::{Path, PathBuf};

use nalgebra::Point3;
use serde::{Deserialize, Serialize};

use crate::core::planning::InstrumentKind;
use crate::core::segmentation::Category;

/// How many recent files File > Open recent lists.
pub const RECENT_FILES: usize = 10;

/// What patient coordinates are shown in: DICOM's LPS, or RAS as 3D Slicer shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Coordinates {
    #[default]
    Lps,
    Ras,
}

impl Coordinates {
    pub fn name(self) -> &'static str {
        match self {
            Coordinates::Lps => "LPS",
            Coordinates::Ras => "RAS",
        }
    }

    /// A point in LPS mm as shown: RAS turns x and y round. Its own inverse.
    pub fn shown(self, lps_mm: Point3<f64>) -> Point3<f64> {
        match self {
            Coordinates::Lps => lps_mm,
            Coordinates::Ras => Point3::new(-lps_mm.x, -lps_mm.y, lps_mm.z),
        }
    }

    /// "LPS 1.0, -2.0, 3.5 mm".
    pub fn format(self, lps_mm: Point3<f64>) -> String {
        let p = self.shown(lps_mm);
        format!("{} {:.1}, {:.1}, {:.1} mm", self.name(), p.x, p.y, p.z)
    }
}

/// The window (in the screen's pixels) and its side panel (in egui's points) as the user last
/// left them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Layout {
    pub width: f32,
    pub height: f32,
    pub side_panel_width: f32,
}

impl Default for Layout {
    fn default() -> Self {
        Layout { width: 1600.0, height: 1000.0, side_panel_width: 380.0 }
    }
}

/// twinplan on the DICOM network: its own storage service and the PACS it asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    pub ae_title: String,
    pub port: u16,
    /// AE@HOST:PORT, empty when none is set.
    pub pacs: String,
}

impl Default for Network {
    fn default() -> Self {
        Network { ae_title: "TWINPLAN".into(), port: 11112, pacs: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The instrument a new trajectory starts with.
    pub instrument: InstrumentKind,
    /// The safety margins new vessel and nerve segments start with, mm.
    pub vessel_margin_mm: f64,
    pub nerve_margin_mm: f64,
    pub coordinates: Coordinates,
    pub layout: Layout,
    pub network: Network,
    /// Plans and scans opened, the latest first.
    pub recent: Vec<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            instrument: InstrumentKind::BiopsyNeedle,
            vessel_margin_mm: Category::Vessel.default_margin_mm(),
            nerve_margin_mm: Category::Nerve.default_margin_mm(),
            coordinates: Coordinates::Lps,
            layout: Layout::default(),
            network: Network::default(),
            recent: Vec::new(),
        }
    }
}

/// Where the settings live: `$XDG_CONFIG_HOME/twinplan/settings.toml`, else under
/// `~/.config`; `None` without a home.
pub fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("twinplan/settings.toml"))
}

impl Settings {
    /// The settings in `path`, and what the user should be told about them. A missing file
    /// gives the defaults silently; an unreadable one is renamed `settings.toml.bad` (kept for
    /// the user to look at) and replaced by the defaults.
    pub fn load(path: &Path) -> (Settings, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Settings::default(), None),
            Err(e) => {
                return (
                    Settings::default(),
                    Some(format!("{}: cannot be read ({e}); using defaults", path.display())),
                );
            }
        };
        match toml::from_str::<Settings>(&text) {
            Ok(settings) => {
                let (settings, fixed) = settings.checked();
                let notice = (!fixed.is_empty())
                    .then(|| format!("{}: {} out of range, set to the default", path.display(), fixed.join(", ")));
                (settings, notice)
            }
            Err(e) => {
                // Kept aside for the user, and replaced by the defaults.
                let aside = path.with_extension("toml.bad");
                let kept =
                    std::fs::rename(path, &aside).map_or(String::new(), |_| format!(" (kept as {})", aside.display()));
                let _ = Settings::default().save(path);
                let reason = e.message().to_owned();
                (
                    Settings::default(),
                    Some(format!("{}: not valid settings: {reason}; using defaults{kept}", path.display())),
                )
            }
        }
    }

    /// Writes the settings to `path` whole (another name first, then renamed).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        crate::core::io::written_whole(path, |partial| std::fs::write(partial, text.as_bytes()), |e| e)
    }

    /// The settings with every value out of range replaced by its default, and the names of
    /// those replaced.
    fn checked(mut self) -> (Settings, Vec<&'static str>) {
        let d = Settings::default();
        let mut fixed = Vec::new();
        let margin_ok = |m: f64| m.is_finite() && (0.0..=20.0).contains(&m);
        if !margin_ok(self.vessel_margin_mm) {
            self.vessel_margin_mm = d.vessel_margin_mm;
            fixed.push("vessel_margin_mm");
        }
        if !margin_ok(self.nerve_margin_mm) {
            self.nerve_margin_mm = d.nerve_margin_mm;
            fixed.push("nerve_margin_mm");
        }
        let l = self.layout;
        let size_ok = |v: f32, lo: f32| v.is_finite() && (lo..=16384.0).contains(&v);
        if !(size_ok(l.width, 320.0) && size_ok(l.height, 240.0) && size_ok(l.side_panel_width, 120.0)) {
            self.layout = d.layout;
            fixed.push("layout");
        }
        if crate::core::pacs::check_ae_title(&self.network.ae_title).is_err() || self.network.port == 0 {
            self.network.ae_title = d.network.ae_title;
            self.network.port = d.network.port;
            fixed.push("network.ae_title/port");
        }
        if !self.network.pacs.is_empty() && self.network.pacs.parse::<crate::core::pacs::Node>().is_err() {
            self.network.pacs.clear();
            fixed.push("network.pacs");
        }
        self.recent.truncate(RECENT_FILES);
        (self, fixed)
    }

    /// A new segment's safety margin, mm: the user's for vessels and nerves.
    pub fn margin_mm(&self, category: Category) -> f64 {
        match category {
            Category::Vessel => self.vessel_margin_mm,
            Category::Nerve => self.nerve_margin_mm,
            other => other.default_margin_mm(),
        }
    }

    /// Puts `path` first in the recent files (once), keeping at most [`RECENT_FILES`].
    pub fn remember(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.recent.retain(|p| *p != path);
        self.recent.insert(0, path);
        self.recent.truncate(RECENT_FILES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_as_written_and_a_missing_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twinplan/settings.toml");
        assert_eq!(Settings::load(&path), (Settings::default(), None));
        let mut s = Settings { instrument: InstrumentKind::DbsLead, nerve_margin_mm: 3.5, ..Default::default() };
        s.coordinates = Coordinates::Ras;
        s.network.pacs = "PACS@10.0.0.2:104".into();
        s.layout.width = 1280.0;
        s.remember(dir.path());
        s.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("instrument = \"dbs_lead\"") && text.contains("coordinates = \"RAS\""), "{text}");
        assert_eq!(Settings::load(&path), (s, None));
    }

    #[test]
    fn a_corrupt_file_gives_the_defaults_a_notice_and_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "instrument = [[[ not toml").unwrap();
        let (s, notice) = Settings::load(&path);
        assert_eq!(s, Settings::default());
        let notice = notice.unwrap();
        assert!(notice.contains("not valid settings") && notice.contains("settings.toml.bad"), "{notice}");
        assert!(dir.path().join("settings.toml.bad").exists());
        assert_eq!(Settings::load(&path), (Settings::default(), None), "replaced by the defaults");
        // A value of the wrong kind is as unreadable as broken syntax.
        std::fs::write(&path, "instrument = \"scalpel\"").unwrap();
        assert!(Settings::load(&path).1.unwrap().contains("not valid settings"));
    }

    #[test]
    fn values_out_of_range_are_replaced_by_their_defaults_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(
            &path,
            "vessel_margin_mm = -1.0\nnerve_margin_mm = 3.0\nunknown_key = 1\n[layout]\nwidth = 5.0\n\
             [network]\nae_title = \"MUCH TOO LONG FOR AN AE\"\npacs = \"nonsense\"\n",
        )
        .unwrap();
        let (s, notice) = Settings::load(&path);
        let notice = notice.unwrap();
        assert_eq!(s.vessel_margin_mm, 2.0);
        assert_eq!(s.nerve_margin_mm, 3.0, "a value in range is kept");
        assert_eq!((s.layout, s.network), (Layout::default(), Network::default()));
        for name in ["vessel_margin_mm", "layout", "network.ae_title", "network.pacs"] {
            assert!(notice.contains(name), "{notice}");
        }
        assert!(!notice.contains("nerve_margin_mm"));
    }

    #[test]
    fn recent_files_are_the_latest_first_once_each_at_most_ten() {
        let mut s = Settings::default();
        for n in 0..12 {
            s.remember(Path::new(&format!("/nowhere/plan{n}.twinplan.json")));
        }
        s.remember(Path::new("/nowhere/plan5.twinplan.json"));
        assert_eq!(s.recent.len(), RECENT_FILES);
        assert_eq!(s.recent[0], Path::new("/nowhere/plan5.twinplan.json"));
        assert_eq!(s.recent[1], Path::new("/nowhere/plan11.twinplan.json"));
        assert_eq!(s.recent.iter().filter(|p| p.ends_with("plan5.twinplan.json")).count(), 1);
    }

    #[test]
    fn ras_turns_x_and_y_round() {
        let p = Point3::new(10.0, -20.5, 33.25);
        assert_eq!(Coordinates::Ras.shown(p), Point3::new(-10.0, 20.5, 33.25));
        assert_eq!(Coordinates::Ras.shown(Coordinates::Ras.shown(p)), p);
        assert_eq!(Coordinates::Lps.format(p), "LPS 10.0, -20.5, 33.2 mm");
        assert_eq!(Coordinates::Ras.format(p), "RAS -10.0, 20.5, 33.2 mm");
    }
}
