// Review settings: the fields of tiers above "How many tiers" are greyed out and disabled
// (a disabled fieldset is not submitted), and come alive as soon as the count allows them.
(function () {
  "use strict";
  const count = document.getElementById("tiers");
  if (!count) return;
  function sync() {
    const tiers = Number(count.value);
    document.querySelectorAll("fieldset.tier-rule").forEach(function (fieldset) {
      const off = Number(fieldset.dataset.tier) > tiers;
      fieldset.disabled = off;
      fieldset.classList.toggle("tier-off", off);
      fieldset.title = off ? "Unused: raise \u201cHow many tiers\u201d to " + fieldset.dataset.tier + " to set it" : "";
    });
  }
  count.addEventListener("change", sync);
  sync();
})();
