// Catalogue français. Le type `Messages` garantit qu'aucune clé ne manque.
import type { Messages } from "./en";

export const fr: Messages = {
  appName: "Kalamu",
  tagline: "Apprendre, même sans réseau",
  library: "Bibliothèque",
  emptyTitle: "Aucun cours pour l'instant",
  emptyBody:
    "Les cours arrivent sous forme de paquets (fichiers .kpack), sur une clé USB ou depuis le serveur de votre centre de formation.",
  emptyHowTo: "Pour en ajouter un, un membre du personnel lance cette commande sur cet ordinateur :",
  emptyCommand: "kalamu import /media/usb/cours.kpack",
  packCount: (n: number) => `${n} cours`,
  version: (v: string) => `Version ${v}`,
  by: (publisher: string) => `par ${publisher}`,
  unsigned: "Paquet non signé",
  learner: "Apprenant",
  chooseLearner: "Qui étudie ?",
  addLearner: "Nouvel apprenant",
  learnerName: "Nom",
  add: "Ajouter",
  cancel: "Annuler",
  language: "Langue",
  syncNotSetUp: "Synchronisation non configurée : la progression est enregistrée sur cet ordinateur.",
  dataDir: (dir: string) => `Données : ${dir}`,
  storeError: "Kalamu ne peut pas ouvrir ses données",
  loading: "Chargement…",
};
