// Shared by the portal pages: translation tables and the language switch.
import * as i18n from "/static/js/i18n.js";

export { i18n };

export async function setUp() {
  await i18n.use("/static/i18n/{lang}.json");
  await i18n.use("/portal/i18n/{lang}.json");
  i18n.apply();
  i18n.bindSwitch(document.getElementById("lang"));
  document.documentElement.lang = i18n.getLang();
  i18n.onChange((lang) => {
    document.documentElement.lang = lang;
  });
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(i18n.getLang(), { dateStyle: "medium", timeStyle: "short" });
}
